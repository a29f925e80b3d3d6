"""Weekly files as they land: one good line, and a writer for files with bad ones."""

from pathlib import Path

from retail_assets.ingest import contract

GOOD = {
    "SHOP_WEEK": "200607", "SHOP_DATE": "20060410", "SHOP_WEEKDAY": "2", "SHOP_HOUR": "19", "QUANTITY": "1",
    "SPEND": "0.93", "PROD_CODE": "PRD0900033", "PROD_CODE_10": "CL00201", "PROD_CODE_20": "DEP00067",
    "PROD_CODE_30": "G00021", "PROD_CODE_40": "D00005", "CUST_CODE": "CUST0000410727",
    "CUST_PRICE_SENSITIVITY": "MM", "CUST_LIFESTAGE": "OT", "BASKET_ID": "994100100398294", "BASKET_SIZE": "L",
    "BASKET_PRICE_SENSITIVITY": "MM", "BASKET_TYPE": "Full Shop", "BASKET_DOMINANT_MISSION": "Mixed",
    "STORE_CODE": "STORE00001", "STORE_FORMAT": "LS", "STORE_REGION": "E02",
}


def write(path: Path, rows: list[dict], header: list[str] | None = None, raw_lines: list[str] = ()) -> Path:
    header = header or list(contract.COLUMNS)
    lines = [",".join(header)] + [",".join(row.get(h, "") for h in header) for row in rows] + list(raw_lines)
    path.write_text("\n".join(lines) + "\n")
    return path
