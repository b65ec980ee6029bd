"""Doctypes Tillmesh touches that ``v15-doctypes`` does not define, written by hand.

Same token format as ``_doctypes_v15`` (see there). The fields are those the recorded
ERPNext 15 answers show for these doctypes; mandatory flags and labels follow ERPNext 15.
Naming rules that need more than a field are spelled in ``_naming``.
"""

from __future__ import annotations

SITE_DOCTYPES: dict[str, tuple[str, str]] = {
    "Account": ("naming=account sort=lft order=asc", """
        account_name|X!||Account~Name account_number|X is_group|C company|L!|Company|Company
        root_type|S report_type|S account_currency|L|Currency|Currency
        parent_account|L|Account|Parent~Account account_type|S tax_rate|F freeze_account|S
        balance_must_be|S lft|I rgt|I old_parent|X disabled|C
    """),
    "Batch": ("naming=field:batch_id sort=modified order=desc", """
        disabled|C|||0 batch_id|X!||Batch~ID item|L!|Item|Item parent_batch|L|Batch|Parent~Batch
        manufacturing_date|D|||Today expiry_date|D supplier|L|Supplier|Supplier
        reference_doctype|X reference_name|X description|X item_name|X batch_qty|F
        stock_uom|L|UOM|Batch~UOM qty_to_produce|F produced_qty|F
        use_batchwise_valuation|C|||0
    """),
    "Brand": ("naming=field:brand sort=modified order=desc", """
        brand|X!||Brand~Name description|X
    """),
    "Company": ("naming=field:company_name sort=modified order=desc", """
        company_name|X!||Company abbr|X!||Abbr default_currency|X country|X is_group|C
        lft|I rgt|I old_parent|X create_chart_of_accounts_based_on|X chart_of_accounts|X
        default_bank_account|X default_cash_account|X default_receivable_account|X
        default_payable_account|X write_off_account|X
        allow_account_creation_against_child_company|C default_expense_account|X
        default_income_account|X cost_center|X exchange_gain_loss_account|X
        round_off_account|X round_off_cost_center|X
        book_advance_payments_in_separate_party_account|C reconcile_on_advance_payment_date|C
        reconciliation_takes_effect_on|X auto_exchange_rate_revaluation|C auto_err_frequency|X
        submit_err_jv|C accumulated_depreciation_account|X depreciation_expense_account|X
        expenses_included_in_asset_valuation|X disposal_account|X depreciation_cost_center|X
        capital_work_in_progress_account|X asset_received_but_not_billed|X
        monthly_sales_target|F total_monthly_sales|F credit_limit|F
        enable_perpetual_inventory|C enable_provisional_accounting_for_non_stock_items|C
        default_inventory_account|X stock_adjustment_account|X
        stock_received_but_not_billed|X expenses_included_in_valuation|X
    """),
    "Coupon Code": ("naming=field:coupon_name sort=modified order=desc", """
        coupon_name|X!||Coupon~Name coupon_type|S!||Coupon~Type|Promotional
        customer|L|Customer|Customer coupon_code|X pricing_rule|L!|Pricing~Rule|Pricing~Rule
        valid_from|D valid_upto|D maximum_use|I used|I|||0 description|X
    """),
    "Cost Center": ("naming=cost_center sort=lft order=asc", """
        cost_center_name|X!||Cost~Center~Name cost_center_number|X
        parent_cost_center|L|Cost~Center|Parent~Cost~Center company|L!|Company|Company
        is_group|C disabled|C lft|I rgt|I old_parent|X
    """),
    "Currency": ("naming=field:currency_name sort=name order=asc", """
        currency_name|X!||Currency~Name enabled|C fraction|X fraction_units|I
        smallest_currency_fraction_value|F symbol|X number_format|X
    """),
    "Custom Field": ("naming=custom_field sort=modified order=desc", """
        dt|X!||DocType module|X label|X fieldname|X insert_after|X fieldtype|S!||Field~Type|Data
        options|X default|X reqd|C hidden|C read_only|C unique|C no_copy|C allow_on_submit|C
        in_list_view|C print_hide|C description|X is_system_generated|C length|I precision|X
    """),
    "Customer Group": ("naming=field:customer_group_name sort=lft order=asc", """
        customer_group_name|X!||Customer~Group~Name
        parent_customer_group|L|Customer~Group|Parent~Customer~Group is_group|C
        default_price_list|L|Price~List|Default~Price~List lft|I rgt|I old_parent|X
    """),
    "Deleted Document": ("naming=hash sort=modified order=desc", """
        deleted_name|X deleted_doctype|X restored|C new_name|X data|X
    """),
    "Global Defaults": ("naming=single sort=modified order=desc single", """
        default_company|L|Company|Default~Company country|X
        default_currency|L|Currency|Default~Currency hide_currency_symbol|X
        disable_rounded_total|C disable_in_words|C
    """),
    "Item Default": ("naming=hash sort=modified order=desc table", """
        company|L|Company|Company default_warehouse|L|Warehouse|Default~Warehouse
        default_price_list|L|Price~List|Default~Price~List
        income_account|L|Account|Default~Income~Account
        selling_cost_center|L|Cost~Center|Default~Selling~Cost~Center
    """),
    "Item Group": ("naming=field:item_group_name sort=lft order=asc", """
        item_group_name|X!||Item~Group~Name parent_item_group|L|Item~Group|Parent~Item~Group
        is_group|C image|X lft|I rgt|I old_parent|X
    """),
    "Item Tax": ("naming=hash sort=modified order=desc table", """
        item_tax_template|L!|Item~Tax~Template|Item~Tax~Template
        tax_category|L|Tax~Category|Tax~Category valid_from|D minimum_net_rate|F
        maximum_net_rate|F
    """),
    "Loyalty Point Entry": ("naming=hash sort=modified order=desc", """
        loyalty_program|L|Loyalty~Program|Loyalty~Program loyalty_program_tier|X
        customer|L|Customer|Customer redeem_against|X loyalty_points|I purchase_amount|F
        expiry_date|D posting_date|D company|L|Company|Company invoice_type|X invoice|X
    """),
    "Loyalty Program Collection": ("naming=hash sort=modified order=desc table", """
        tier_name|X!||Tier~Name min_spent|F collection_factor|F!||Collection~Factor
    """),
    "Price List": ("naming=field:price_list_name sort=name order=asc", """
        price_list_name|X!||Price~List~Name enabled|C|||1 currency|L!|Currency|Currency
        buying|C selling|C price_not_uom_dependent|C
    """),
    "Pricing Rule": ("naming=series:PRLE-.#### sort=modified order=desc", """
        title|X!||Title disable|C|||0 apply_on|S!||Apply~On|Item~Code
        price_or_product_discount|S!||Price~or~Product~Discount|Price
        warehouse|L|Warehouse|Warehouse items|T|Pricing~Rule~Item~Code|Apply~Rule~On~Item~Code
        item_groups|T|Pricing~Rule~Item~Group|Apply~Rule~On~Item~Group
        brands|T|Pricing~Rule~Brand|Apply~Rule~On~Brand mixed_conditions|C|||0
        is_cumulative|C|||0 coupon_code_based|C|||0 apply_rule_on_other|S
        other_item_code|L|Item|Item~Code other_item_group|L|Item~Group|Item~Group
        other_brand|L|Brand|Brand selling|C|||0 buying|C|||0 applicable_for|S
        customer|L|Customer|Customer customer_group|L|Customer~Group|Customer~Group
        territory|L|Territory|Territory sales_partner|X campaign|X supplier|X
        supplier_group|X min_qty|F max_qty|F min_amt|F|||0
        max_amt|F|||0 valid_from|D|||Today valid_upto|D company|L|Company|Company
        currency|L!|Currency|Currency margin_type|S|||Percentage margin_rate_or_amount|F|||0
        rate_or_discount|S|||Discount~Percentage apply_discount_on|S|||Grand~Total rate|F|||0
        discount_amount|F|||0 discount_percentage|F for_price_list|L|Price~List|For~Price~List
        same_item|C|||0 free_item|L|Item|Free~Item free_qty|F|||0 free_item_uom|L|UOM|UOM
        free_item_rate|F threshold_percentage|F priority|S apply_multiple_pricing_rules|C|||0
        apply_discount_on_rate|C|||0 validate_applied_rule|C|||0 rule_description|X
        promotional_scheme_id|X promotional_scheme|X
        condition|X is_recursive|C|||0 naming_series|S|||PRLE-.#### round_free_qty|C|||0
        recurse_for|F apply_recursion_over|F|||0 has_priority|C|||0
        dont_enforce_free_item_qty|C|||0
    """),
    "Pricing Rule Brand": ("naming=hash sort=modified order=desc table", """
        brand|L|Brand|Brand uom|L|UOM|UOM
    """),
    "Pricing Rule Item Code": ("naming=hash sort=modified order=desc table", """
        item_code|L|Item|Item~Code uom|L|UOM|UOM
    """),
    "Pricing Rule Item Group": ("naming=hash sort=modified order=desc table", """
        item_group|L|Item~Group|Item~Group uom|L|UOM|UOM
    """),
    "Serial No": ("naming=field:serial_no sort=modified order=desc", """
        serial_no|X!||Serial~No item_code|L!|Item|Item~Code item_name|X description|X
        item_group|L|Item~Group|Item~Group brand|L|Brand|Brand warranty_period|I
        warranty_expiry_date|D amc_expiry_date|D company|L!|Company|Company
        warehouse|L|Warehouse|Warehouse batch_no|L|Batch|Batch~No purchase_rate|F status|S
        purchase_document_no|X customer|L|Customer|Customer
    """),
    "Stock Entry": ("naming=series:MAT-STE-.YYYY.- sort=modified order=desc submittable", """
        naming_series|S|||MAT-STE-.YYYY.- stock_entry_type|X!||Stock~Entry~Type purpose|S
        add_to_transit|C company|L!|Company|Company posting_date|D|||Today
        posting_time|M|||Now set_posting_time|C inspection_required|C apply_putaway_rule|C
        from_bom|C use_multi_level_bom|C|||1 fg_completed_qty|F process_loss_percentage|F
        process_loss_qty|F from_warehouse|L|Warehouse|Default~Source~Warehouse
        to_warehouse|L|Warehouse|Default~Target~Warehouse total_outgoing_value|F
        total_incoming_value|F value_difference|F total_additional_costs|F
        is_opening|S|||No per_transferred|F total_amount|F is_return|C remarks|X
        amended_from|L|Stock~Entry|Amended~From
        additional_costs|T|Landed~Cost~Taxes~and~Charges|Additional~Costs
        items|T!|Stock~Entry~Detail|Items
    """),
    "Stock Entry Detail": ("naming=hash sort=modified order=desc table", """
        barcode|X has_item_scanned|C s_warehouse|L|Warehouse|Source~Warehouse
        t_warehouse|L|Warehouse|Target~Warehouse item_code|L!|Item|Item~Code item_name|X
        is_finished_item|C is_scrap_item|C description|X item_group|X qty|F!||Qty
        transfer_qty|F!||Qty~as~per~Stock~UOM retain_sample|C uom|L!|UOM|UOM
        stock_uom|L!|UOM|Stock~UOM conversion_factor|F!||Conversion~Factor
        sample_quantity|I basic_rate|F additional_cost|F valuation_rate|F
        allow_zero_valuation_rate|C set_basic_rate_manually|C basic_amount|F amount|F
        use_serial_batch_fields|C serial_no|X batch_no|L|Batch|Batch~No
        expense_account|L|Account|Difference~Account
        cost_center|L|Cost~Center|Cost~Center actual_qty|F transferred_qty|F
        allow_alternative_item|C
    """),
    "Stock Ledger Entry": ("naming=hash sort=creation order=desc", """
        item_code|L|Item|Item~Code warehouse|L|Warehouse|Warehouse posting_date|D
        posting_time|M posting_datetime|Z is_adjustment_entry|C voucher_type|X voucher_no|X
        voucher_detail_no|X actual_qty|F qty_after_transaction|F incoming_rate|F
        valuation_rate|F stock_value|F stock_value_difference|F company|L|Company|Company
        stock_uom|X is_cancelled|C batch_no|X serial_no|X
    """),
    "Stock Settings": ("naming=single sort=modified order=desc single", """
        item_naming_by|X valuation_method|X default_warehouse|X stock_uom|X
        auto_insert_price_list_rate_if_missing|C update_price_list_based_on|X
        update_existing_price_list_rate|C allow_to_edit_stock_uom_qty_for_sales|C
        allow_to_edit_stock_uom_qty_for_purchase|C
        allow_uom_with_conversion_rate_defined_in_item|C over_delivery_receipt_allowance|F
        mr_qty_allowance|F over_picking_allowance|F allow_negative_stock|C
        show_barcode_field|C clean_description_html|C
        allow_internal_transfer_at_arms_length_price|C
        action_if_quality_inspection_is_not_submitted|X
        action_if_quality_inspection_is_rejected|X enable_stock_reservation|C
        allow_partial_reservation|C auto_reserve_stock_for_sales_order_on_purchase|C
        auto_reserve_serial_and_batch|C allow_existing_serial_no|C
        do_not_use_batchwise_valuation|C auto_create_serial_and_batch_bundle_for_outward|C
        pick_serial_and_batch_based_on|X disable_serial_no_and_batch_selector|C
        use_serial_batch_fields|C do_not_update_serial_batch_on_creation_of_auto_bundle|C
        set_serial_and_batch_bundle_naming_based_on_naming_series|C use_naming_series|C
        naming_series_prefix|X allow_to_make_quality_inspection_after_purchase_or_delivery|C
        auto_indent|C reorder_email_notify|C allow_from_dn|C allow_from_pr|C
        stock_frozen_upto_days|I
    """),
    "Territory": ("naming=field:territory_name sort=lft order=asc", """
        territory_name|X!||Territory~Name parent_territory|L|Territory|Parent~Territory
        is_group|C territory_manager|X lft|I rgt|I old_parent|X
    """),
    "UOM": ("naming=field:uom_name sort=name order=asc", """
        uom_name|X!||UOM~Name enabled|C|||1 must_be_whole_number|C symbol|X
    """),
    "UOM Conversion Detail": ("naming=hash sort=modified order=desc table", """
        uom|L|UOM|UOM conversion_factor|F
    """),
    "User": ("naming=field:email sort=name order=asc", """
        email|X!||Email first_name|X!||First~Name last_name|X full_name|X enabled|C|||1
        user_type|S|||System~User language|X time_zone|X api_key|X
    """),
    "Warehouse": ("naming=warehouse sort=lft order=asc", """
        disabled|C warehouse_name|X!||Warehouse~Name is_group|C
        parent_warehouse|L|Warehouse|Parent~Warehouse is_rejected_warehouse|C
        account|L|Account|Account company|L!|Company|Company warehouse_type|X lft|I rgt|I
        old_parent|X
    """),
}
