#!/usr/bin/env bash
# A curl walk-through of every REST endpoint, against a running
#
#     xqueue serve examples.app:app
#
# Each step checks the answer; the script stops with exit 1 at the first wrong one.
#   XQUEUE_URL    the server (default http://127.0.0.1:8080)
#   XQUEUE_TOKEN  bearer token to send (the admin token when auth is on)
#   XQUEUE_WAIT   seconds to wait for a task to reach a state (default 20)
# Needs curl and python3 (to read JSON).
set -euo pipefail

BASE=${XQUEUE_URL:-http://127.0.0.1:8080}
API=$BASE/api/v1
WAIT=${XQUEUE_WAIT:-20}
AUTH=()
if [ -n "${XQUEUE_TOKEN:-}" ]; then AUTH=(-H "Authorization: Bearer $XQUEUE_TOKEN"); fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
CHECKS=0

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { CHECKS=$((CHECKS + 1)); echo "ok   $*"; }

# req METHOD PATH [JSON]: sets STATUS and BODY.
req() {
    local args=(-s -o "$TMP/body" -w '%{http_code}' -X "$1" ${AUTH[@]+"${AUTH[@]}"})
    if [ $# -ge 3 ]; then args+=(-H 'Content-Type: application/json' --data "$3"); fi
    STATUS=$(curl "${args[@]}" "$API$2") || fail "$1 $2: curl could not connect to $BASE"
    BODY=$(cat "$TMP/body")
}

# expect STATUS WHAT: the last answer had this HTTP status.
expect() {
    [ "$STATUS" = "$1" ] || fail "$2: expected HTTP $1, got $STATUS: $BODY"
    pass "$2 ($STATUS)"
}

# json EXPR: evaluate a Python expression over the last body (bound to d).
json() { printf '%s' "$BODY" | python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

# check EXPR WHAT: the expression over the last body is true.
check() { [ "$(json "$1")" = "True" ] || fail "$2: ($1) is false for: $BODY"; pass "$2"; }

# wait_for ID STATUS: poll the task until it has STATUS.
wait_for() {
    local deadline=$((SECONDS + WAIT))
    while :; do
        req GET "/tasks/$1"
        [ "$STATUS" = 200 ] || fail "GET /tasks/$1: HTTP $STATUS: $BODY"
        [ "$(json 'd["status"]')" = "$2" ] && { pass "task $1 reached $2"; return; }
        [ $SECONDS -lt "$deadline" ] || fail "task $1 did not reach $2 in ${WAIT}s: $BODY"
        sleep 0.2
    done
}

echo "== $API"

req GET /health
expect 200 "GET /health"
check 'd["status"] == "ok"' "every backend answers"

req GET /handlers
expect 200 "GET /handlers"
check '"email" in [h["type"] for h in d["handlers"]]' "the email handler is registered"

req POST /tasks '{"type": "email", "payload": {"to": "curl@example.com"}, "priority": 5, "max_retry": 2}'
expect 201 "POST /tasks"
ID=$(json 'd["id"]')
check 'd["status"] == "pending" and d["priority"] == 5' "the new task is pending, priority 5"

req GET "/tasks/$ID"
expect 200 "GET /tasks/{id}"
wait_for "$ID" success
check 'd["result"] == {"sent_to": "curl@example.com"}' "its result is stored"

req GET "/tasks?status=success&type=email&limit=5"
expect 200 "GET /tasks?status=success&type=email"
check "'$ID' in [t['id'] for t in d['tasks']]" "the task is listed"

req GET "/tasks?limit=1"
expect 200 "GET /tasks?limit=1"
CURSOR=$(json 'd["next_cursor"]')
req GET "/tasks?limit=1&cursor=$CURSOR"
expect 200 "GET /tasks?cursor= (next page)"

req POST /tasks/batch '{"tasks": [{"type": "email", "payload": {"n": 1}}, {"type": "email", "payload": {"n": 2}}, {"type": "flaky"}]}'
expect 201 "POST /tasks/batch"
check 'len(d["tasks"]) == 3' "three tasks in the batch"

req POST /tasks '{"type": "email", "idempotency_key": "walkthrough-1"}'
FIRST=$(json 'd["id"]')
req POST /tasks '{"type": "email", "idempotency_key": "walkthrough-1"}'
expect 201 "POST /tasks with a used idempotency key"
check "d['id'] == '$FIRST'" "the same task comes back"

req GET /stats
expect 200 "GET /stats"
check 'd["total"] >= 5 and d["by_status"]["success"] >= 1' "the counts add up"

req POST /concurrency '{"task_type": "report", "max_concurrency": 2}'
expect 200 "POST /concurrency"
check 'd["task_type"] == "report" and d["max_concurrency"] == 2' "report is limited to 2"
req GET /concurrency
expect 200 "GET /concurrency"
check 'd["report"]["max_concurrency"] == 2' "the limit is listed"

req POST /tasks '{"type": "report", "payload": {"seconds": 30}}'
expect 201 "POST /tasks (a slow report)"
SLOW=$(json 'd["id"]')
wait_for "$SLOW" processing
req DELETE "/tasks/$SLOW"
expect 200 "DELETE /tasks/{id} (running: cancel requested)"
wait_for "$SLOW" canceled
req DELETE "/tasks/$SLOW"
expect 409 "DELETE /tasks/{id} again (already finished)"
check 'd["error"]["code"] == "already_finished"' "the error says why"

req GET "/tasks/$ID/history"
expect 200 "GET /tasks/{id}/history"
check '[e["status"] for e in d["events"] if e["kind"] == "status"][-1] == "success"' "the history ends in success"

STATUS=$(curl -s -N -m 5 -o "$TMP/one" -w '%{http_code}' ${AUTH[@]+"${AUTH[@]}"} "$API/tasks/$ID/events" || true)
BODY=$(head -c 300 "$TMP/one")
expect 200 "GET /tasks/{id}/events (server-sent events)"
grep -q '^event: task' "$TMP/one" || fail "the one-task stream did not start with its snapshot: $BODY"
pass "the stream starts with the task's snapshot"

curl -s -N -m "$WAIT" ${AUTH[@]+"${AUTH[@]}"} "$API/events" > "$TMP/all" &
STREAM=$!
until grep -q '^retry:' "$TMP/all" 2>/dev/null; do   # the stream is open
    kill -0 $STREAM 2>/dev/null || fail "GET /events: the stream did not open"
    sleep 0.05
done
req POST /tasks '{"type": "email"}'
LIVE=$(json 'd["id"]')
wait_for "$LIVE" success
deadline=$((SECONDS + 5))
until grep -q "\"$LIVE\".*\"success\"" "$TMP/all"; do
    [ $SECONDS -lt $deadline ] || fail "GET /events did not show $LIVE succeed: $(head -c 300 "$TMP/all")"
    sleep 0.05
done
kill $STREAM 2>/dev/null || true
wait $STREAM 2>/dev/null || true
pass "GET /events streams the new task to success"

req GET "/throughput?seconds=60"
expect 200 "GET /throughput"
check 'len(d["seconds"]) == 60' "one bucket a second"

req GET /openapi.json
expect 200 "GET /openapi.json"
check 'd["openapi"].startswith("3.")' "an OpenAPI 3 document"

# Errors: JSON {"error": {"code", "message"}} with the right status.
req POST /tasks '{"type": "email"'
expect 400 "malformed JSON"
req POST /tasks '{"type": "no-such-type"}'
expect 422 "an unknown task type"
check 'd["error"]["code"] == "unknown_task_type"' "the error names it"
req POST /tasks '{"type": "email", "queue_timeout": -1}'
expect 422 "a negative timeout"
req POST /concurrency '{"task_type": "no-such-type", "max_concurrency": 1}'
expect 422 "a limit for an unknown type"
req GET /tasks/no-such-task
expect 404 "an unknown task id"
req GET "/tasks?limit=100000"
expect 422 "a page size out of bounds"

req POST /concurrency '{"task_type": "report", "max_concurrency": null}'
expect 200 "POST /concurrency (remove the limit)"

for page in / /docs; do
    STATUS=$(curl -s -o /dev/null -w '%{http_code}' "$BASE$page")
    BODY=""
    expect 200 "GET $page"
done

echo "== all $CHECKS checks passed"
