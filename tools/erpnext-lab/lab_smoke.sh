#!/usr/bin/env bash
# Smoke test of a running lab through the REST API with curl and the API token:
# POS Opening Entry -> N POS Invoices -> POS Closing Entry -> consolidated Sales Invoice.
#   lab_smoke.sh [N_INVOICES]    (needs TILLMESH_ERPNEXT_* in the environment; N >= 10
#                                  makes ERPNext consolidate in a background job)
set -euo pipefail
N=${1:-2}
: "${TILLMESH_ERPNEXT_URL:?source env.sh first}"
URL=$TILLMESH_ERPNEXT_URL
AUTH="Authorization: token $TILLMESH_ERPNEXT_KEY:$TILLMESH_ERPNEXT_SECRET"
PROFILE=$TILLMESH_ERPNEXT_POS_PROFILE

api() {  # METHOD PATH [JSON]  -> body on stdout; exits on HTTP >= 400
  local out code
  out=$(mktemp)
  code=$(curl -sS -o "$out" -w '%{http_code}' -X "$1" -H "$AUTH" -H 'Content-Type: application/json' \
    -H 'Accept: application/json' "$URL$2" ${3:+--data-binary "$3"})
  if ((code >= 400)); then
    echo "HTTP $code on $1 $2:" >&2
    jq -r '._server_messages // .exception // .' "$out" >&2 || cat "$out" >&2
    rm -f "$out"; exit 1
  fi
  cat "$out"; rm -f "$out"
}
enc() { jq -rn --arg v "$1" '$v|@uri'; }

t0=$(date +%s.%N)
user=$(api GET /api/method/frappe.auth.get_logged_user | jq -r .message)
profile=$(api GET "/api/resource/POS%20Profile/$(enc "$PROFILE")" | jq .data)
company=$(jq -r .company <<<"$profile"); customer=$(jq -r .customer <<<"$profile")
warehouse=$(jq -r .warehouse <<<"$profile"); taxes=$(jq -r '.taxes_and_charges // ""' <<<"$profile")
cash_account=$(api GET /api/resource/Mode%20of%20Payment/Cash | jq -r --arg c "$company" \
  '.data.accounts[] | select(.company==$c) | .default_account')
TZONE=${TILLMESH_ERPNEXT_TIMEZONE:-Europe/Berlin}   # the site's time zone
now=$(TZ=$TZONE date '+%Y-%m-%d %H:%M:%S')
today=${now%% *}
echo "user $user, company $company, warehouse $warehouse, cash account $cash_account, now $now"

# Items: the first N plain stock items with a stock-UOM price on the profile's list.
mapfile -t codes < <(api GET "/api/resource/Item?fields=%5B%22item_code%22%5D&filters=%5B%5B%22item_code%22%2C%22like%22%2C%22LAB-%25%22%5D%2C%5B%22stock_uom%22%2C%22%3D%22%2C%22Nos%22%5D%5D&order_by=item_code%20asc&limit_page_length=$N" | jq -r '.data[].item_code')

opening=$(api POST "/api/resource/POS%20Opening%20Entry" "$(jq -n --arg c "$company" --arg p "$PROFILE" \
  --arg u "$user" --arg now "$now" --arg d "$today" '{company:$c, pos_profile:$p, user:$u,
  period_start_date:$now, posting_date:$d, balance_details:[{mode_of_payment:"Cash", opening_amount:100}],
  docstatus:1}')" | jq -r .data.name)
echo "opening $opening: $(api GET "/api/resource/POS%20Opening%20Entry/$opening" | jq -r .data.status)"

total=0
for ((i = 0; i < N; i++)); do
  code=${codes[$((i % ${#codes[@]}))]}
  body=$(jq -n --arg c "$company" --arg p "$PROFILE" --arg cu "$customer" --arg code "$code" \
    --arg acc "$cash_account" --arg t "$taxes" '{is_pos:1, update_stock:1, pos_profile:$p, customer:$cu, company:$c,
    taxes_and_charges:$t,
    items:[{item_code:$code, qty:1}], payments:[{mode_of_payment:"Cash", amount:1000, account:$acc}],
    paid_amount:1000, docstatus:0}')
  draft=$(api POST "/api/resource/POS%20Invoice" "$body" | jq .data)
  name=$(jq -r .name <<<"$draft")
  due=$(jq -r '(if .rounded_total and .rounded_total != 0 then .rounded_total else .grand_total end)' <<<"$draft")
  done_=$(api PUT "/api/resource/POS%20Invoice/$name" "$(jq -n --argjson d "$due" --arg acc "$cash_account" \
    '{payments:[{mode_of_payment:"Cash", amount:$d, base_amount:$d, account:$acc}], paid_amount:$d,
      base_paid_amount:$d, docstatus:1}')" | jq .data)
  echo "invoice $name: $code x1, grand_total $(jq -r .grand_total <<<"$done_"), taxes $(jq -r .total_taxes_and_charges <<<"$done_"), status $(jq -r .status <<<"$done_")"
  total=$(jq -n --argjson a "$total" --argjson b "$due" '$a+$b')
done

sleep 1; end=$(TZ=$TZONE date '+%Y-%m-%d %H:%M:%S')
invoices=$(api GET "/api/method/erpnext.accounts.doctype.pos_closing_entry.pos_closing_entry.get_pos_invoices?start=$(enc "$now")&end=$(enc "$end")&pos_profile=$(enc "$PROFILE")&user=$(enc "$user")" | jq .message)
echo "get_pos_invoices: $(jq length <<<"$invoices") invoices"
closing_body=$(jq -n --arg c "$company" --arg p "$PROFILE" --arg u "$user" --arg o "$opening" \
  --arg pstart "$now" --arg pend "$end" --argjson inv "$invoices" --argjson total "$total" '{
  pos_opening_entry:$o, company:$c, pos_profile:$p, user:$u, period_start_date:$pstart,
  period_end_date:$pend, posting_date:($pend|split(" ")[0]), posting_time:($pend|split(" ")[1]),
  grand_total:$total, net_total:$total, total_quantity:($inv|length),
  pos_transactions:[$inv[] | {pos_invoice:.name, posting_date, grand_total, customer, is_return, return_against}],
  payment_reconciliation:[{mode_of_payment:"Cash", opening_amount:100, expected_amount:(100+$total),
                           closing_amount:(100+$total)}],
  docstatus:1}')
closing=$(api POST "/api/resource/POS%20Closing%20Entry" "$closing_body" | jq .data)
cname=$(jq -r .name <<<"$closing")
status=$(jq -r .status <<<"$closing")
echo "closing $cname: status $status"
w=0
while [[ $status != Submitted && $status != Failed ]] && ((w < 120)); do
  sleep 2; w=$((w + 1))
  status=$(api GET "/api/resource/POS%20Closing%20Entry/$cname" | jq -r .data.status)
done
echo "closing $cname: status $status after $((w * 2)) s of polling"
merge=$(api GET "/api/resource/POS%20Invoice%20Merge%20Log?filters=%5B%5B%22pos_closing_entry%22%2C%22%3D%22%2C%22$cname%22%5D%5D&fields=%5B%22name%22%2C%22consolidated_invoice%22%2C%22docstatus%22%5D" | jq -c .data)
echo "merge logs: $merge"
si=$(jq -r '.[0].consolidated_invoice // empty' <<<"$merge")
[[ -n $si ]] && echo "sales invoice $si: $(api GET "/api/resource/Sales%20Invoice/$si" | jq -c '.data | {docstatus, status, grand_total, update_stock, is_pos}')"
echo "opening $opening: $(api GET "/api/resource/POS%20Opening%20Entry/$opening" | jq -r .data.status)"
echo "elapsed $(echo "$(date +%s.%N) - $t0" | bc 2>/dev/null || echo '?') s"
[[ $status == Submitted && -n $si ]] || { echo "SMOKE FAILED" >&2; exit 1; }
echo "SMOKE OK"
