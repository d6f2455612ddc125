//! Signed GitHub deliveries of a chosen size, for the seeder and the load generator.

use webhook_verify::github;

/// The GitHub secret every benchmark target is started with. Obviously fake.
pub const GITHUB_SECRET: &str = "bench-github-secret";
/// The API token every benchmark target is started with. Obviously fake.
pub const API_TOKEN: &str = "bench-api-token";

/// A signed `push` delivery whose JSON body is padded to about `size` bytes.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `X-GitHub-Delivery`, unique per delivery.
    pub id: String,
    /// The JSON body.
    pub body: Vec<u8>,
    /// `X-Hub-Signature-256`.
    pub signature: String,
}

impl Delivery {
    /// Builds and signs one delivery.
    pub fn github(id: String, size: usize) -> Self {
        let head = format!(r#"{{"ref":"refs/heads/main","delivery":"{id}","pad":""#);
        let tail = r#""}"#;
        let pad = size.saturating_sub(head.len() + tail.len());
        let mut body = Vec::with_capacity(head.len() + pad + tail.len());
        body.extend_from_slice(head.as_bytes());
        body.resize(head.len() + pad, b'x');
        body.extend_from_slice(tail.as_bytes());
        let signature = github::sign(GITHUB_SECRET.as_bytes(), &body);
        Self {
            id,
            body,
            signature,
        }
    }

    /// The request headers, as `(name, value)` pairs.
    pub fn headers(&self) -> [(&'static str, &str); 4] {
        [
            ("content-type", "application/json"),
            ("x-github-delivery", &self.id),
            ("x-github-event", "push"),
            ("x-hub-signature-256", &self.signature),
        ]
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bodies_are_json_of_the_requested_size_and_verify() {
        for size in [0, 100, 1024, 65_536] {
            let delivery = Delivery::github(format!("d-{size}"), size);
            let value: serde_json::Value = serde_json::from_slice(&delivery.body).unwrap();
            assert_eq!(value["delivery"], format!("d-{size}"));
            if size >= 100 {
                assert_eq!(delivery.body.len(), size);
            }
            let secrets: [&[u8]; 1] = [GITHUB_SECRET.as_bytes()];
            assert!(github::verify(Some(&delivery.signature), &delivery.body, &secrets).is_ok());
        }
    }
}
