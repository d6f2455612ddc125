#!/bin/sh
# The forwarder's clock on Kubernetes (kustomize/base/ticker.yaml runs it in the curl image):
# POST $DISPATCH_URL with the API token every $DISPATCH_EVERY seconds, one call at a time. Each
# call is one bounded dispatch round (due retries, events not attempted yet) and a retention sweep.
# Why a Deployment and not a CronJob: docs/architecture.md, "What drives retries".
#
#   ticker.sh [run]   the loop
#   ticker.sh live    liveness: the loop finished a call, whatever its outcome, within
#                     $LIVE_WITHIN seconds (a stuck loop is restarted)
#   ticker.sh ready   readiness: a call answered 200 within $READY_WITHIN seconds (a ticker that
#                     cannot dispatch shows NotReady instead of being restarted into a back-off)
#
# The token is read from $TOKEN_FILE (a Secret volume: a rotation reaches it without a restart)
# before every call and handed to curl on its standard input (`--header @-`), never as an
# argument (arguments are visible in the process list) and never printed. During a rotation the
# file may hold several whitespace-separated tokens: a 401 tries the next one.
set -u

: "${DISPATCH_URL:?DISPATCH_URL is not set}"
: "${TOKEN_FILE:=/var/run/secrets/webhook-inbox/api_token}"
: "${STATE_DIR:=/run/ticker}"
: "${DISPATCH_EVERY:=5}"
# A round starts no send after 20 s and each send has a 10 s deadline.
: "${DISPATCH_MAX_TIME:=40}"
: "${LIVE_WITHIN:=90}"
: "${READY_WITHIN:=60}"
# One "alive" line per this many successful rounds (720 x 5 s = an hour); failures always log.
: "${LOG_EVERY:=720}"

now() { date +%s; }

# age NAME: seconds since the time stamped in STATE_DIR/NAME (a large number when there is none).
age() {
  stamp=""
  [ -r "${STATE_DIR}/$1" ] && read -r stamp <"${STATE_DIR}/$1"
  case "${stamp}" in
    '' | *[!0-9]*) echo 999999 ;;
    *) echo $(($(now) - stamp)) ;;
  esac
}

# mark NAME: stamp STATE_DIR/NAME with the current time (written aside, then renamed: a probe
# never reads a half-written file).
mark() {
  now >"${STATE_DIR}/$1.tmp" && mv -f "${STATE_DIR}/$1.tmp" "${STATE_DIR}/$1"
}

log() { printf 'ticker: %s\n' "$*"; }

case "${1:-run}" in
  live)
    [ "$(age progress)" -le "${LIVE_WITHIN}" ]
    exit
    ;;
  ready)
    [ "$(age success)" -le "${READY_WITHIN}" ]
    exit
    ;;
  run) ;;
  *)
    echo "usage: ticker.sh [run|live|ready]" >&2
    exit 2
    ;;
esac

# call TOKEN: one POST; prints the HTTP status (000 without an answer). The answer goes to
# STATE_DIR/body, curl's own error to STATE_DIR/error.
call() {
  printf 'Authorization: Bearer %s\n' "$1" |
    curl --silent --show-error --max-time "${DISPATCH_MAX_TIME}" --request POST \
      --header 'Content-Length: 0' --header 'Accept: application/json' --header @- \
      --output "${STATE_DIR}/body" --write-out '%{http_code}' "${DISPATCH_URL}" 2>"${STATE_DIR}/error"
}

# A short, single-line excerpt of what the forwarder (or curl) said: never the token, which is
# only ever in the request.
said() {
  cat "${STATE_DIR}/body" "${STATE_DIR}/error" 2>/dev/null | tr '\n\r' '  ' | cut -c1-300
}

rounds=0
failures=0
# The pod is stopped with SIGTERM: leave at once (the sleep is waited on, so the trap runs now).
trap 'log "stopping after ${rounds} successful rounds"; exit 0' TERM INT
# No globbing of the tokens' characters.
set -f
mkdir -p "${STATE_DIR}"
mark progress
log "dispatching to ${DISPATCH_URL} every ${DISPATCH_EVERY}s"
while :; do
  code=""
  tokens=""
  [ -r "${TOKEN_FILE}" ] && tokens="$(cat "${TOKEN_FILE}")"
  for token in ${tokens}; do
    : >"${STATE_DIR}/body"
    code="$(call "${token}")"
    [ "${code}" = 401 ] || break
  done
  mark progress
  if [ "${code}" = 200 ]; then
    mark success
    rounds=$((rounds + 1))
    if [ "${failures}" -gt 0 ]; then
      log "dispatch answers again after ${failures} failed call(s): $(said)"
      failures=0
    elif [ "${rounds}" -eq 1 ] || [ $((rounds % LOG_EVERY)) -eq 0 ]; then
      log "alive: ${rounds} successful rounds; last: $(said)"
    fi
  elif [ -z "${tokens}" ]; then
    failures=$((failures + 1))
    log "no API token in ${TOKEN_FILE} (Secret key api_token)"
  else
    failures=$((failures + 1))
    log "dispatch failed (HTTP ${code:-000}, ${failures} in a row): $(said)"
  fi
  sleep "${DISPATCH_EVERY}" &
  wait $!
done
