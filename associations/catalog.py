"""The product catalog of SPEC §3, shared by the demo data and the tests."""

from associations.models import Product, SolutionArea

M365_WORKLOADS = [
    ("exchange-online", "Exchange Online"),
    ("sharepoint-online", "SharePoint Online"),
    ("onedrive-for-business", "OneDrive for Business"),
    ("microsoft-teams", "Microsoft Teams"),
    ("m365-apps-for-enterprise", "Microsoft 365 Apps for enterprise"),
    ("microsoft-intune", "Microsoft Intune"),
    ("azure-ad-premium", "Azure Active Directory Premium"),
    ("azure-information-protection", "Azure Information Protection"),
    ("defender-for-office-365", "Microsoft Defender for Office 365"),
    ("yammer", "Yammer"),
]

BIZAPPS_PRODUCTS = [
    ("d365-sales", "Dynamics 365 Sales", True),
    ("d365-customer-service", "Dynamics 365 Customer Service", True),
    ("d365-field-service", "Dynamics 365 Field Service", True),
    ("d365-finance", "Dynamics 365 Finance", True),
    ("d365-supply-chain-management", "Dynamics 365 Supply Chain Management", True),
    ("d365-business-central", "Dynamics 365 Business Central", True),
    ("d365-marketing", "Dynamics 365 Marketing", True),
    ("power-apps", "Power Apps", False),
    ("power-automate", "Power Automate", False),
    ("power-bi-pro", "Power BI Pro", False),
]


def catalog_ensure():
    """Create or update every catalog product; returns them by code. Idempotent: one query when the catalog is
    already as listed here (the tests' tenants ask for it again and again), two when there is none yet."""
    rows = [(code, name, SolutionArea.MICROSOFT_365, False) for code, name in M365_WORKLOADS] + [
        (code, name, SolutionArea.BUSINESS_APPLICATIONS, is_dynamics) for code, name, is_dynamics in BIZAPPS_PRODUCTS
    ]
    found = Product.objects.in_bulk([code for code, *_ in rows], field_name="code")
    if all(
        code in found
        and (found[code].name, found[code].solution_area, found[code].is_dynamics, found[code].sort_order)
        == (name, area, is_dynamics, order)
        for order, (code, name, area, is_dynamics) in enumerate(rows)
    ):
        return {code: found[code] for code, *_ in rows}
    if not found:  # a new database (each test's): one INSERT
        created = Product.objects.bulk_create(
            Product(code=code, name=name, solution_area=area, is_dynamics=is_dynamics, sort_order=order)
            for order, (code, name, area, is_dynamics) in enumerate(rows)
        )
        return {product.code: product for product in created}
    products = {}
    for order, (code, name, area, is_dynamics) in enumerate(rows):
        products[code], _ = Product.objects.update_or_create(
            code=code,
            defaults={"name": name, "solution_area": area, "is_dynamics": is_dynamics, "sort_order": order},
        )
    return products
