#!/usr/bin/env bash
# Smoke test of a running lab through the REST API with curl and the API token, in the
# mode the site is in (POS Settings invoice_type; ERPNext 15 has none: POS Invoices):
#   15, or 16 in "POS Invoice" mode: POS Opening Entry -> N POS Invoices -> POS Closing Entry
#       (15: pos_transactions from get_pos_invoices; 16: pos_invoices from get_invoices)
#       -> consolidated Sales Invoice;
#   16 in "Sales Invoice" mode: POS Opening Entry -> N Sales Invoices (is_pos, update_stock,
#       is_created_using_pos, payments with account) -> POS Closing Entry with sales_invoices
#       -> each invoice carries the closing, the opening is Closed (nothing is consolidated).
#   lab_smoke.sh [N_INVOICES]    (needs TILLMESH_ERPNEXT_* in the environment; N >= 10
#                                  makes ERPNext consolidate POS Invoices in a background job)
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
# 16+: POS Settings invoice_type ("POS Invoice" | "Sales Invoice"); empty on 15
mode=$(api GET "/api/resource/POS%20Settings/POS%20Settings" | jq -r '.data.invoice_type // ""')
version=$(api GET /api/method/frappe.utils.change_log.get_versions | jq -r '.message.erpnext.version // "?"')
echo "ERPNext $version, invoice_type ${mode:-(none: POS Invoices)}"
doctype="POS Invoice"
[[ $mode == "Sales Invoice" ]] && doctype="Sales Invoice"
dt_path=${doctype// /%20}

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
    --arg acc "$cash_account" --arg t "$taxes" --arg dt "$doctype" '{is_pos:1, update_stock:1, pos_profile:$p, customer:$cu, company:$c,
    taxes_and_charges:$t,
    items:[{item_code:$code, qty:1}], payments:[{mode_of_payment:"Cash", amount:1000, account:$acc}],
    paid_amount:1000, docstatus:0}
    + (if $dt == "Sales Invoice" then {is_created_using_pos:1} else {} end)')
  draft=$(api POST "/api/resource/$dt_path" "$body" | jq .data)
  name=$(jq -r .name <<<"$draft")
  due=$(jq -r '(if .rounded_total and .rounded_total != 0 then .rounded_total else .grand_total end)' <<<"$draft")
  done_=$(api PUT "/api/resource/$dt_path/$name" "$(jq -n --argjson d "$due" --arg acc "$cash_account" \
    '{payments:[{mode_of_payment:"Cash", amount:$d, base_amount:$d, account:$acc}], paid_amount:$d,
      base_paid_amount:$d, docstatus:1}')" | jq .data)
  echo "invoice $name: $code x1, grand_total $(jq -r .grand_total <<<"$done_"), taxes $(jq -r .total_taxes_and_charges <<<"$done_"), status $(jq -r .status <<<"$done_")"
  total=$(jq -n --argjson a "$total" --argjson b "$due" '$a+$b')
done

sleep 1; end=$(TZ=$TZONE date '+%Y-%m-%d %H:%M:%S')
if [[ -z $mode ]]; then  # 15
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
else  # 16: get_invoices lists both kinds (doctype), pos_invoices + sales_invoices replace pos_transactions
invoices=$(api GET "/api/method/erpnext.accounts.doctype.pos_closing_entry.pos_closing_entry.get_invoices?start=$(enc "$now")&end=$(enc "$end")&pos_profile=$(enc "$PROFILE")&user=$(enc "$user")" | jq .message.invoices)
echo "get_invoices: $(jq '[.[] | select(.doctype=="POS Invoice")] | length' <<<"$invoices") POS Invoices," \
  "$(jq '[.[] | select(.doctype=="Sales Invoice")] | length' <<<"$invoices") Sales Invoices"
closing_body=$(jq -n --arg c "$company" --arg p "$PROFILE" --arg u "$user" --arg o "$opening" \
  --arg pstart "$now" --arg pend "$end" --argjson inv "$invoices" --argjson total "$total" '{
  pos_opening_entry:$o, company:$c, pos_profile:$p, user:$u, period_start_date:$pstart,
  period_end_date:$pend, posting_date:($pend|split(" ")[0]), posting_time:($pend|split(" ")[1]),
  grand_total:$total, net_total:$total, total_quantity:($inv|length),
  pos_invoices:[$inv[] | select(.doctype=="POS Invoice")
    | {pos_invoice:.name, posting_date, grand_total, customer, is_return, return_against}],
  sales_invoices:[$inv[] | select(.doctype=="Sales Invoice")
    | {sales_invoice:.name, posting_date, grand_total, customer, is_return, return_against}],
  payment_reconciliation:[{mode_of_payment:"Cash", opening_amount:100, expected_amount:(100+$total),
                           closing_amount:(100+$total)}],
  docstatus:1}')
fi
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
if [[ $mode == "Sales Invoice" ]]; then  # nothing to consolidate: the invoices name the closing
  echo "closing $cname: $(jq '.sales_invoices | length' <<<"$closing") sales_invoices, $(jq '.pos_invoices | length' <<<"$closing") pos_invoices"
  linked=$(api GET "/api/resource/Sales%20Invoice?filters=$(enc "[[\"pos_closing_entry\",\"=\",\"$cname\"]]")&fields=$(enc '["name","docstatus","status","grand_total","update_stock","is_pos","is_created_using_pos"]')&limit_page_length=0" | jq -c .data)
  echo "sales invoices with pos_closing_entry $cname: $(jq length <<<"$linked") of $N: $(jq -c '.[0:3]' <<<"$linked")"
  echo "opening $opening: $(api GET "/api/resource/POS%20Opening%20Entry/$opening" | jq -r .data.status)"
  echo "elapsed $(echo "$(date +%s.%N) - $t0" | bc 2>/dev/null || echo '?') s"
  [[ $status == Submitted && $(jq length <<<"$linked") == "$N" ]] || { echo "SMOKE FAILED" >&2; exit 1; }
  echo "SMOKE OK"
  exit 0
fi
merge=$(api GET "/api/resource/POS%20Invoice%20Merge%20Log?filters=%5B%5B%22pos_closing_entry%22%2C%22%3D%22%2C%22$cname%22%5D%5D&fields=%5B%22name%22%2C%22consolidated_invoice%22%2C%22docstatus%22%5D" | jq -c .data)
echo "merge logs: $merge"
si=$(jq -r '.[0].consolidated_invoice // empty' <<<"$merge")
[[ -n $si ]] && echo "sales invoice $si: $(api GET "/api/resource/Sales%20Invoice/$si" | jq -c '.data | {docstatus, status, grand_total, update_stock, is_pos}')"
echo "opening $opening: $(api GET "/api/resource/POS%20Opening%20Entry/$opening" | jq -r .data.status)"
echo "elapsed $(echo "$(date +%s.%N) - $t0" | bc 2>/dev/null || echo '?') s"
[[ $status == Submitted && -n $si ]] || { echo "SMOKE FAILED" >&2; exit 1; }
echo "SMOKE OK"
