"""ERPNext 15's own doctype definitions, compacted from ``shared/erpnext/v15-doctypes/*.json``.

Generated once from the JSON files (data fields only; layout fields dropped) and checked
against them by ``tests/lab/test_simulator.py`` when the JSON is present. Each doctype is
``(header, fields)``: the header says how documents are named and sorted and whether the
doctype is a child table, submittable or single; ``fields`` holds one token per field,
``fieldname|type[!]|options|label|default`` with ``~`` for a space and trailing empty parts
left out. Types: L Link, T Table, C Check, I Int, F Float/Currency/Percent, D Date, M Time,
Z Datetime, S Select (default: its first option), X any other value (also a Select without
options); ``!`` marks a mandatory field. Labels are kept only where Frappe's messages need
them (mandatory and link fields).
"""

from __future__ import annotations

V15_DOCTYPES: dict[str, tuple[str, str]] = {
    "Bin": (
        "naming=hash sort=modified order=asc",
        """
        warehouse|L!|Warehouse|Warehouse item_code|L!|Item|Item~Code reserved_qty|F|||0.00
        actual_qty|F|||0.00 ordered_qty|F|||0.00 indented_qty|F|||0.00 planned_qty|F projected_qty|F
        reserved_qty_for_production|F reserved_qty_for_sub_contract|F stock_uom|L|UOM|UOM
        valuation_rate|F stock_value|F reserved_qty_for_production_plan|F reserved_stock|F|||0
        """,
    ),
    "Customer": (
        "naming=series:CUST-.YYYY.- sort=modified order=desc",
        """
        naming_series|S|||CUST-.YYYY.- salutation|L|Salutation|Salutation
        customer_name|X!||Customer~Name gender|L|Gender|Gender
        customer_type|S!||Customer~Type|Company
        default_bank_account|L|Bank~Account|Default~Company~Bank~Account lead_name|L|Lead|From~Lead
        image|X account_manager|L|User|Account~Manager
        customer_group|L|Customer~Group|Customer~Group territory|L|Territory|Territory tax_id|X
        tax_category|L|Tax~Category|Tax~Category disabled|C|||0 is_internal_customer|C|||0
        represents_company|L|Company|Represents~Company
        companies|T|Allowed~To~Transact~With|Allowed~To~Transact~With
        default_currency|L|Currency|Billing~Currency
        default_price_list|L|Price~List|Default~Price~List language|L|Language|Print~Language
        website|X customer_primary_contact|L|Contact|Customer~Primary~Contact mobile_no|X email_id|X
        customer_primary_address|L|Address|Customer~Primary~Address primary_address|X
        accounts|T|Party~Account|Accounts
        payment_terms|L|Payment~Terms~Template|Default~Payment~Terms~Template customer_details|X
        market_segment|L|Market~Segment|Market~Segment industry|L|Industry~Type|Industry
        is_frozen|C|||0 loyalty_program|L|Loyalty~Program|Loyalty~Program loyalty_program_tier|X
        default_sales_partner|L|Sales~Partner|Sales~Partner default_commission_rate|F
        sales_team|T|Sales~Team|Sales~Team customer_pos_id|X
        credit_limits|T|Customer~Credit~Limit|Credit~Limit so_required|C|||0 dn_required|C|||0
        tax_withholding_category|L|Tax~Withholding~Category|Tax~Withholding~Category
        opportunity_name|L|Opportunity|From~Opportunity
        portal_users|T|Portal~User|Customer~Portal~Users prospect_name|L|Prospect|From~Prospect
        first_name|X last_name|X deposit_balance|F
        """,
    ),
    "Item": (
        "naming=field:item_code sort=modified order=desc",
        """
        naming_series|S|||STO-ITEM-.YYYY.- item_code|X!||Item~Code variant_of|L|Item|Variant~Of
        item_name|X item_group|L!|Item~Group|Item~Group stock_uom|L!|UOM|Default~Unit~of~Measure
        disabled|C|||0 allow_alternative_item|C|||0 is_stock_item|C|||1
        include_item_in_manufacturing|C|||1 opening_stock|F valuation_rate|F standard_rate|F
        is_fixed_asset|C|||0 asset_category|L|Asset~Category|Asset~Category asset_naming_series|X
        image|X brand|L|Brand|Brand description|X barcodes|T|Item~Barcode|Barcodes
        shelf_life_in_days|I end_of_life|D|||2099-12-31 default_material_request_type|S|||Purchase
        valuation_method|S warranty_period|X weight_per_unit|F weight_uom|L|UOM|Weight~UOM
        reorder_levels|T|Item~Reorder|Reorder~level~based~on~Warehouse
        uoms|T|UOM~Conversion~Detail|UOMs has_batch_no|C|||0 create_new_batch|C|||0
        batch_number_series|X has_expiry_date|C|||0 retain_sample|C|||0 sample_quantity|I
        has_serial_no|C|||0 serial_no_series|X has_variants|C|||0
        variant_based_on|S|||Item~Attribute attributes|T|Item~Variant~Attribute|Variant~Attributes
        item_defaults|T|Item~Default|Item~Defaults is_purchase_item|C|||1
        purchase_uom|L|UOM|Default~Purchase~Unit~of~Measure min_order_qty|F|||0.00 safety_stock|F
        lead_time_days|I last_purchase_rate|F is_customer_provided_item|C|||0
        customer|L|Customer|Customer delivered_by_supplier|C|||0
        supplier_items|T|Item~Supplier|Supplier~Items country_of_origin|L|Country|Country~of~Origin
        customs_tariff_number|L|Customs~Tariff~Number|Customs~Tariff~Number
        sales_uom|L|UOM|Default~Sales~Unit~of~Measure is_sales_item|C|||1 max_discount|F
        enable_deferred_revenue|C|||0 no_of_months|I enable_deferred_expense|C|||0
        no_of_months_exp|I customer_items|T|Item~Customer~Detail|Customer~Items
        taxes|T|Item~Tax|Taxes inspection_required_before_purchase|C|||0
        inspection_required_before_delivery|C|||0
        quality_inspection_template|L|Quality~Inspection~Template|Quality~Inspection~Template
        default_bom|L|BOM|Default~BOM is_sub_contracted_item|C|||0 customer_code|X
        total_projected_qty|F over_delivery_receipt_allowance|F over_billing_allowance|F
        auto_create_assets|C|||0 default_item_manufacturer|L|Manufacturer|Default~Item~Manufacturer
        default_manufacturer_part_no|X grant_commission|C|||1 is_grouped_asset|C|||0
        allow_negative_stock|C|||0 is_offer|C|||0
        """,
    ),
    "Item Barcode": (
        "naming=hash sort=modified order=desc table",
        """
        barcode|X!||Barcode barcode_type|S uom|L|UOM|UOM
        """,
    ),
    "Item Price": (
        "naming=hash sort=modified order=asc",
        """
        item_code|L!|Item|Item~Code uom|L!|UOM|UOM packing_unit|I|||0 item_name|X
        brand|L|Brand|Brand item_description|X price_list|L!|Price~List|Price~List
        customer|L|Customer|Customer supplier|L|Supplier|Supplier buying|C|||0 selling|C|||0
        currency|L|Currency|Currency price_list_rate|F!||Rate valid_from|D|||Today
        lead_time_days|I|||0 valid_upto|D note|X reference|X batch_no|L|Batch|Batch~No
        """,
    ),
    "Item Tax Template": (
        "naming=hash sort=modified order=desc",
        """
        title|X!||Title taxes|T!|Item~Tax~Template~Detail|Tax~Rates company|L!|Company|Company
        disabled|C|||0
        """,
    ),
    "Item Tax Template Detail": (
        "naming=hash sort=modified order=desc table",
        """
        tax_type|L!|Account|Tax tax_rate|F
        """,
    ),
    "Loyalty Program": (
        "naming=field:loyalty_program_name sort=modified order=desc",
        """
        loyalty_program_name|X!||Loyalty~Program~Name loyalty_program_type|S|||Single~Tier~Program
        from_date|D!||From~Date to_date|D customer_group|L|Customer~Group|Customer~Group
        customer_territory|L|Territory|Customer~Territory auto_opt_in|C|||0
        collection_rules|T!|Loyalty~Program~Collection|Collection~Rules conversion_factor|F
        expiry_duration|I expense_account|L|Account|Expense~Account
        cost_center|L|Cost~Center|Cost~Center company|L|Company|Company project|L|Project|Project
        """,
    ),
    "Mode of Payment": (
        "naming=field:mode_of_payment sort=modified order=asc",
        """
        mode_of_payment|X!||Mode~of~Payment type|S|||Cash
        accounts|T|Mode~of~Payment~Account|Accounts enabled|C|||1
        """,
    ),
    "Mode of Payment Account": (
        "naming=hash sort=modified order=desc table",
        """
        company|L|Company|Company default_account|L|Account|Default~Account
        """,
    ),
    "POS Closing Entry": (
        "naming=POS-CLO-.YYYY.-.##### sort=modified order=desc submittable",
        """
        period_start_date|Z!||Period~Start~Date period_end_date|Z!||Period~End~Date|Today
        posting_date|D!||Posting~Date|Today company|L!|Company|Company
        pos_profile|L!|POS~Profile|POS~Profile user|L!|User|Cashier
        payment_reconciliation|T|POS~Closing~Entry~Detail|Payment~Reconciliation grand_total|F|||0
        net_total|F|||0 total_quantity|F taxes|T|POS~Closing~Entry~Taxes|Taxes
        amended_from|L|POS~Closing~Entry|Amended~From
        pos_transactions|T|POS~Invoice~Reference|POS~Transactions
        pos_opening_entry|L!|POS~Opening~Entry|POS~Opening~Entry status|S|||Draft error_message|X
        posting_time|M!||Posting~Time|Now
        """,
    ),
    "POS Closing Entry Detail": (
        "naming=hash sort=modified order=desc table",
        """
        mode_of_payment|L!|Mode~of~Payment|Mode~of~Payment expected_amount|F difference|F
        opening_amount|F!||Opening~Amount closing_amount|F!||Closing~Amount|0
        """,
    ),
    "POS Closing Entry Taxes": (
        "naming=hash sort=modified order=desc table",
        """
        rate|F amount|F account_head|L|Account|Account~Head
        """,
    ),
    "POS Invoice": (
        "naming=series:ACC-PSINV-.YYYY.- sort=modified order=desc submittable",
        """
        title|X|||{customer_name} naming_series|S!||Series|ACC-PSINV-.YYYY.-
        customer|L|Customer|Customer customer_name|X tax_id|X is_pos|C!||Include~Payment~(POS)|1
        pos_profile|L|POS~Profile|POS~Profile is_return|C|||0 company|L!|Company|Company
        posting_date|D!||Date|Today posting_time|M|||Now set_posting_time|C|||0 due_date|D
        amended_from|L|POS~Invoice|Amended~From return_against|L|POS~Invoice|Return~Against
        update_billed_amount_in_sales_order|C|||0 project|L|Project|Project
        cost_center|L|Cost~Center|Cost~Center po_no|X po_date|D
        customer_address|L|Address|Customer~Address address_display|X
        contact_person|L|Contact|Contact~Person contact_display|X contact_mobile|X contact_email|X
        territory|L|Territory|Territory shipping_address_name|L|Address|Shipping~Address~Name
        shipping_address|X company_address|L|Address|Company~Address~Name company_address_display|X
        currency|L!|Currency|Currency conversion_rate|F!||Exchange~Rate
        selling_price_list|L!|Price~List|Price~List
        price_list_currency|L!|Currency|Price~List~Currency
        plc_conversion_rate|F!||Price~List~Exchange~Rate ignore_pricing_rule|C|||0
        set_warehouse|L|Warehouse|Source~Warehouse update_stock|C|||0 scan_barcode|X
        items|T!|POS~Invoice~Item|Items pricing_rules|T|Pricing~Rule~Detail|Pricing~Rule~Detail
        packed_items|T|Packed~Item|Packed~Items timesheets|T|Sales~Invoice~Timesheet|Time~Sheets
        total_billing_amount|F|||0 total_qty|F base_total|F
        base_net_total|F!||Net~Total~(Company~Currency) total|F net_total|F total_net_weight|F
        taxes_and_charges|L|Sales~Taxes~and~Charges~Template|Sales~Taxes~and~Charges~Template
        shipping_rule|L|Shipping~Rule|Shipping~Rule tax_category|L|Tax~Category|Tax~Category
        taxes|T|Sales~Taxes~and~Charges|Sales~Taxes~and~Charges other_charges_calculation|X
        base_total_taxes_and_charges|F total_taxes_and_charges|F loyalty_points|I loyalty_amount|F
        redeem_loyalty_points|C|||0 loyalty_program|L|Loyalty~Program|Loyalty~Program
        loyalty_redemption_account|L|Account|Redemption~Account
        loyalty_redemption_cost_center|L|Cost~Center|Redemption~Cost~Center
        apply_discount_on|S|||Grand~Total base_discount_amount|F additional_discount_percentage|F
        discount_amount|F base_grand_total|F!||Grand~Total~(Company~Currency)
        base_rounding_adjustment|F base_rounded_total|F base_in_words|X grand_total|F!||Grand~Total
        rounding_adjustment|F rounded_total|F in_words|X total_advance|F outstanding_amount|F
        allocate_advances_automatically|C|||0 advances|T|Sales~Invoice~Advance|Advances
        payment_terms_template|L|Payment~Terms~Template|Payment~Terms~Template
        payment_schedule|T|Payment~Schedule|Payment~Schedule
        cash_bank_account|L|Account|Cash/Bank~Account
        payments|T|Sales~Invoice~Payment|Sales~Invoice~Payment base_paid_amount|F paid_amount|F
        base_change_amount|F change_amount|F
        account_for_change_amount|L|Account|Account~for~Change~Amount write_off_amount|F
        base_write_off_amount|F write_off_outstanding_amount_automatically|C|||0
        write_off_account|L|Account|Write~Off~Account
        write_off_cost_center|L|Cost~Center|Write~Off~Cost~Center
        tc_name|L|Terms~and~Conditions|Terms terms|X letter_head|L|Letter~Head|Letter~Head
        group_same_items|C|||0 language|X select_print_heading|L|Print~Heading|Print~Heading
        inter_company_invoice_reference|L|Purchase~Invoice|Inter~Company~Invoice~Reference
        customer_group|L|Customer~Group|Customer~Group campaign|L|Campaign|Campaign
        is_discounted|C|||0 status|S|||Draft source|L|Lead~Source|Source
        debit_to|L!|Account|Debit~To party_account_currency|L|Currency|Party~Account~Currency
        is_opening|S|||No remarks|X sales_partner|L|Sales~Partner|Sales~Partner commission_rate|F
        total_commission|F sales_team|T|Sales~Team|Sales~Team from_date|D to_date|D
        auto_repeat|L|Auto~Repeat|Auto~Repeat against_income_account|X
        consolidated_invoice|L|Sales~Invoice|Consolidated~Sales~Invoice
        coupon_code|L|Coupon~Code|Coupon~Code amount_eligible_for_commission|F
        update_billed_amount_in_delivery_note|C|||1
        company_contact_person|L|Contact|Company~Contact~Person last_scanned_warehouse|X
        deposit_used|F use_deposit|C|||0
        """,
    ),
    "POS Invoice Item": (
        "naming=hash sort=modified order=desc table",
        """
        barcode|X item_code|L|Item|Item item_name|X!||Item~Name customer_item_code|X
        description|X!||Description item_group|L|Item~Group|Item~Group brand|X image|X qty|F
        stock_uom|L|UOM|Stock~UOM uom|L!|UOM|UOM conversion_factor|F!||UOM~Conversion~Factor
        stock_qty|F price_list_rate|F base_price_list_rate|F margin_type|S margin_rate_or_amount|F
        rate_with_margin|F discount_percentage|F discount_amount|F base_rate_with_margin|F
        rate|F!||Rate amount|F!||Amount item_tax_template|L|Item~Tax~Template|Item~Tax~Template
        base_rate|F!||Rate~(Company~Currency) base_amount|F!||Amount~(Company~Currency)
        pricing_rules|X is_free_item|C|||0 net_rate|F net_amount|F base_net_rate|F base_net_amount|F
        delivered_by_supplier|C|||0 income_account|L!|Account|Income~Account is_fixed_asset|C|||0
        asset|L|Asset|Asset finance_book|L|Finance~Book|Finance~Book
        expense_account|L|Account|Expense~Account
        deferred_revenue_account|L|Account|Deferred~Revenue~Account service_stop_date|D
        enable_deferred_revenue|C|||0 service_start_date|D service_end_date|D weight_per_unit|F
        total_weight|F weight_uom|L|UOM|Weight~UOM warehouse|L|Warehouse|Warehouse
        target_warehouse|L|Warehouse|Customer~Warehouse~(Optional)
        quality_inspection|L|Quality~Inspection|Quality~Inspection batch_no|L|Batch|Batch~No
        allow_zero_valuation_rate|C|||0 serial_no|X item_tax_rate|X actual_batch_qty|F actual_qty|F
        sales_order|L|Sales~Order|Sales~Order so_detail|X
        delivery_note|L|Delivery~Note|Delivery~Note dn_detail|X delivered_qty|F
        cost_center|L!|Cost~Center|Cost~Center|:Company page_break|C|||0 project|L|Project|Project
        pos_invoice_item|X grant_commission|C|||0 has_item_scanned|C|||0
        serial_and_batch_bundle|L|Serial~and~Batch~Bundle|Serial~and~Batch~Bundle
        use_serial_batch_fields|C|||0 distributed_discount_amount|F
        """,
    ),
    "POS Invoice Merge Log": (
        "naming=hash sort=creation order=desc submittable",
        """
        posting_date|D!||Posting~Date customer|L!|Customer|Customer
        pos_invoices|T!|POS~Invoice~Reference|POS~Invoices
        amended_from|L|POS~Invoice~Merge~Log|Amended~From
        consolidated_invoice|L|Sales~Invoice|Consolidated~Sales~Invoice
        consolidated_credit_note|L|Sales~Invoice|Consolidated~Credit~Note
        pos_closing_entry|L|POS~Closing~Entry|POS~Closing~Entry
        merge_invoices_based_on|S!||Merge~Invoices~Based~On|Customer
        customer_group|L|Customer~Group|Customer~Group posting_time|M!||Posting~Time
        company|L!|Company|Company
        """,
    ),
    "POS Invoice Reference": (
        "naming=hash sort=modified order=desc table",
        """
        pos_invoice|L!|POS~Invoice|POS~Invoice customer|L!|Customer|Customer posting_date|D!||Date
        grand_total|F!||Amount is_return|C|||0 return_against|L|POS~Invoice|Return~Against
        """,
    ),
    "POS Opening Entry": (
        "naming=POS-OPE-.YYYY.-.##### sort=modified order=desc submittable",
        """
        period_start_date|Z!||Period~Start~Date period_end_date|D
        posting_date|D!||Posting~Date|Today company|L!|Company|Company
        pos_profile|L!|POS~Profile|POS~Profile user|L!|User|Cashier
        amended_from|L|POS~Opening~Entry|Amended~From set_posting_date|C|||0 status|S|||Draft
        pos_closing_entry|X balance_details|T!|POS~Opening~Entry~Detail|Opening~Balance~Details
        """,
    ),
    "POS Opening Entry Detail": (
        "naming=hash sort=modified order=desc table",
        """
        mode_of_payment|L!|Mode~of~Payment|Mode~of~Payment opening_amount|F!||Opening~Amount|0
        """,
    ),
    "POS Payment Method": (
        "naming=hash sort=modified order=desc table",
        """
        default|C|||0 mode_of_payment|L!|Mode~of~Payment|Mode~of~Payment allow_in_returns|C|||0
        """,
    ),
    "POS Profile": (
        "naming=Prompt sort=creation order=desc",
        """
        disabled|C|||0 customer|L|Customer|Customer company|L!|Company|Company country|X
        campaign|L|Campaign|Campaign company_address|L|Address|Company~Address
        applicable_for_users|T|POS~Profile~User|Applicable~for~Users
        payments|T!|POS~Payment~Method|Payment~Methods item_groups|T|POS~Item~Group|Item~Groups
        customer_groups|T|POS~Customer~Group|Customer~Groups letter_head|L|Letter~Head|Letter~Head
        tc_name|L|Terms~and~Conditions|Terms~and~Conditions
        select_print_heading|L|Print~Heading|Print~Heading
        selling_price_list|L|Price~List|Price~List currency|L!|Currency|Currency
        write_off_account|L!|Account|Write~Off~Account
        write_off_cost_center|L!|Cost~Center|Write~Off~Cost~Center
        account_for_change_amount|L|Account|Account~for~Change~Amount
        income_account|L|Account|Income~Account expense_account|L|Account|Expense~Account
        cost_center|L|Cost~Center|Cost~Center
        taxes_and_charges|L|Sales~Taxes~and~Charges~Template|Taxes~and~Charges
        apply_discount_on|S|||Grand~Total tax_category|L|Tax~Category|Tax~Category
        print_format|L|Print~Format|Print~Format warehouse|L!|Warehouse|Warehouse
        ignore_pricing_rule|C|||0 update_stock|C|||1 hide_unavailable_items|C|||0 hide_images|C|||0
        auto_add_item_to_cart|C|||0 allow_rate_change|C|||0 allow_discount_change|C|||0
        validate_stock_on_save|C|||0 write_off_limit|F!||Write~Off~Limit|1
        disable_rounded_total|C|||0 print_receipt_on_order_complete|C|||0
        disable_grand_total_to_default_mop|C|||0 project|L|Project|Project
        allow_partial_payment|C|||0
        """,
    ),
    "POS Profile User": (
        "naming=hash sort=modified order=desc table",
        """
        default|C|||0 user|L|User|User
        """,
    ),
    "POS Settings": (
        "naming=hash sort=modified order=desc single",
        """
        invoice_fields|T|POS~Field|POS~Field pos_search_fields|T|POS~Search~Fields|POS~Search~Fields
        """,
    ),
    "Sales Invoice": (
        "naming=series:ACC-SINV-.YYYY.- sort=modified order=desc submittable",
        """
        title|X|||{customer_name} naming_series|S!||Series|ACC-SINV-.YYYY.-
        customer|L|Customer|Customer customer_name|X tax_id|X project|L|Project|Project is_pos|C|||0
        pos_profile|L|POS~Profile|POS~Profile is_return|C|||0 company|L!|Company|Company
        cost_center|L|Cost~Center|Cost~Center posting_date|D!||Date|Today posting_time|M|||Now
        set_posting_time|C|||0 due_date|D amended_from|L|Sales~Invoice|Amended~From
        return_against|L|Sales~Invoice|Return~Against update_billed_amount_in_sales_order|C|||0
        po_no|X po_date|D customer_address|L|Address|Customer~Address address_display|X
        contact_person|L|Contact|Contact~Person contact_display|X contact_mobile|X contact_email|X
        territory|L|Territory|Territory shipping_address_name|L|Address|Shipping~Address~Name
        shipping_address|X company_address|L|Address|Company~Address~Name company_address_display|X
        currency|L!|Currency|Currency conversion_rate|F!||Exchange~Rate
        selling_price_list|L!|Price~List|Price~List
        price_list_currency|L!|Currency|Price~List~Currency
        plc_conversion_rate|F!||Price~List~Exchange~Rate ignore_pricing_rule|C|||0
        set_warehouse|L|Warehouse|Source~Warehouse update_stock|C|||0 scan_barcode|X
        items|T!|Sales~Invoice~Item|Items pricing_rules|T|Pricing~Rule~Detail|Pricing~Rule~Detail
        packed_items|T|Packed~Item|Packed~Items timesheets|T|Sales~Invoice~Timesheet|Time~Sheets
        total_billing_amount|F|||0 total_qty|F base_total|F
        base_net_total|F!||Net~Total~(Company~Currency) total|F net_total|F total_net_weight|F
        taxes_and_charges|L|Sales~Taxes~and~Charges~Template|Sales~Taxes~and~Charges~Template
        shipping_rule|L|Shipping~Rule|Shipping~Rule tax_category|L|Tax~Category|Tax~Category
        taxes|T|Sales~Taxes~and~Charges|Sales~Taxes~and~Charges other_charges_calculation|X
        base_total_taxes_and_charges|F total_taxes_and_charges|F loyalty_points|I loyalty_amount|F
        redeem_loyalty_points|C|||0 loyalty_program|L|Loyalty~Program|Loyalty~Program
        loyalty_redemption_account|L|Account|Redemption~Account
        loyalty_redemption_cost_center|L|Cost~Center|Redemption~Cost~Center
        apply_discount_on|S|||Grand~Total base_discount_amount|F additional_discount_percentage|F
        discount_amount|F base_grand_total|F!||Grand~Total~(Company~Currency)
        base_rounding_adjustment|F base_rounded_total|F base_in_words|X grand_total|F!||Grand~Total
        rounding_adjustment|F rounded_total|F in_words|X total_advance|F outstanding_amount|F
        allocate_advances_automatically|C|||0 advances|T|Sales~Invoice~Advance|Advances
        payment_terms_template|L|Payment~Terms~Template|Payment~Terms~Template
        payment_schedule|T|Payment~Schedule|Payment~Schedule
        cash_bank_account|L|Account|Cash/Bank~Account
        payments|T|Sales~Invoice~Payment|Sales~Invoice~Payment base_paid_amount|F paid_amount|F
        base_change_amount|F change_amount|F
        account_for_change_amount|L|Account|Account~for~Change~Amount write_off_amount|F
        base_write_off_amount|F write_off_outstanding_amount_automatically|C|||0
        write_off_account|L|Account|Write~Off~Account
        write_off_cost_center|L|Cost~Center|Write~Off~Cost~Center
        tc_name|L|Terms~and~Conditions|Terms terms|X letter_head|L|Letter~Head|Letter~Head
        group_same_items|C|||0 language|X select_print_heading|L|Print~Heading|Print~Heading
        inter_company_invoice_reference|L|Purchase~Invoice|Inter~Company~Invoice~Reference
        customer_group|L|Customer~Group|Customer~Group campaign|L|Campaign|Campaign
        is_discounted|C|||0 status|S|||Draft source|L|Lead~Source|Source
        debit_to|L!|Account|Debit~To party_account_currency|L|Currency|Party~Account~Currency
        is_opening|S|||No remarks|X sales_partner|L|Sales~Partner|Sales~Partner commission_rate|F
        total_commission|F sales_team|T|Sales~Team|Sales~Contributions~and~Incentives from_date|D
        to_date|D auto_repeat|L|Auto~Repeat|Auto~Repeat against_income_account|X
        is_consolidated|C|||0 is_internal_customer|C|||0 company_tax_id|X
        unrealized_profit_loss_account|L|Account|Unrealized~Profit~/~Loss~Account
        represents_company|L|Company|Represents~Company
        set_target_warehouse|L|Warehouse|Set~Target~Warehouse is_debit_note|C|||0
        disable_rounded_total|C|||0 additional_discount_account|L|Account|Discount~Account
        dispatch_address_name|L|Address|Dispatch~Address~Name dispatch_address|X
        ignore_default_payment_terms_template|C|||0 total_billing_hours|F
        amount_eligible_for_commission|F subscription|L|Subscription|Subscription
        is_cash_or_non_trade_discount|C|||0 incoterm|L|Incoterm|Incoterm named_place|X
        only_include_allocated_payments|C|||0 use_company_roundoff_cost_center|C|||0
        update_billed_amount_in_delivery_note|C|||1 update_outstanding_for_self|C|||1
        company_contact_person|L|Contact|Company~Contact~Person last_scanned_warehouse|X
        """,
    ),
    "Sales Invoice Item": (
        "naming=hash sort=creation order=desc table",
        """
        barcode|X item_code|L|Item|Item item_name|X!||Item~Name customer_item_code|X description|X
        image|X qty|F stock_uom|L|UOM|Stock~UOM uom|L!|UOM|UOM
        conversion_factor|F!||UOM~Conversion~Factor stock_qty|F price_list_rate|F
        base_price_list_rate|F margin_type|S margin_rate_or_amount|F rate_with_margin|F
        discount_percentage|F discount_amount|F base_rate_with_margin|F rate|F!||Rate
        amount|F!||Amount base_rate|F!||Rate~(Company~Currency)
        base_amount|F!||Amount~(Company~Currency) pricing_rules|X is_free_item|C|||0 net_rate|F
        net_amount|F base_net_rate|F base_net_amount|F delivered_by_supplier|C|||0
        income_account|L!|Account|Income~Account expense_account|L|Account|Expense~Account
        item_tax_template|L|Item~Tax~Template|Item~Tax~Template
        cost_center|L!|Cost~Center|Cost~Center|:Company
        deferred_revenue_account|L|Account|Deferred~Revenue~Account service_stop_date|D
        enable_deferred_revenue|C|||0 service_start_date|D service_end_date|D weight_per_unit|F
        total_weight|F weight_uom|L|UOM|Weight~UOM warehouse|L|Warehouse|Warehouse
        target_warehouse|L|Warehouse|Target~Warehouse
        quality_inspection|L|Quality~Inspection|Quality~Inspection batch_no|L|Batch|Batch~No
        allow_zero_valuation_rate|C|||0 serial_no|X item_group|L|Item~Group|Item~Group brand|X
        item_tax_rate|X actual_batch_qty|F actual_qty|F sales_order|L|Sales~Order|Sales~Order
        so_detail|X delivery_note|L|Delivery~Note|Delivery~Note dn_detail|X delivered_qty|F
        is_fixed_asset|C|||0 asset|L|Asset|Asset page_break|C|||0
        finance_book|L|Finance~Book|Finance~Book project|L|Project|Project sales_invoice_item|X
        incoming_rate|F stock_uom_rate|F discount_account|L|Account|Discount~Account
        grant_commission|C|||0 purchase_order|L|Purchase~Order|Purchase~Order purchase_order_item|X
        has_item_scanned|C|||0
        serial_and_batch_bundle|L|Serial~and~Batch~Bundle|Serial~and~Batch~Bundle
        use_serial_batch_fields|C|||0 distributed_discount_amount|F company_total_stock|F
        pos_invoice_item|X pos_invoice|L|POS~Invoice|POS~Invoice
        """,
    ),
    "Sales Invoice Payment": (
        "naming=hash sort=modified order=desc table",
        """
        mode_of_payment|L!|Mode~of~Payment|Mode~of~Payment amount|F!||Amount|0
        account|L|Account|Account type|X base_amount|F clearance_date|D default|C|||0 reference_no|X
        """,
    ),
    "Sales Taxes and Charges": (
        "naming=hash sort=modified order=asc table",
        """
        charge_type|S!||Type row_id|X account_head|L!|Account|Account~Head
        cost_center|L|Cost~Center|Cost~Center|:Company description|X!||Description
        included_in_print_rate|C|||0 rate|F tax_amount|F total|F tax_amount_after_discount_amount|F
        base_tax_amount|F base_total|F base_tax_amount_after_discount_amount|F
        item_wise_tax_detail|X project|L|Project|Project included_in_paid_amount|C|||0
        dont_recompute_tax|C|||0 account_currency|L|Currency|Account~Currency
        """,
    ),
    "Sales Taxes and Charges Template": (
        "naming=hash sort=modified order=asc",
        """
        title|X!||Title is_default|C|||0 disabled|C|||0 company|L!|Company|Company
        taxes|T|Sales~Taxes~and~Charges|Sales~Taxes~and~Charges
        tax_category|L|Tax~Category|Tax~Category
        """,
    ),
}
