"""Writes products.csv, the catalog `weir sim commerce` embeds: from Magento's sample data
(github.com/magento/magento2-sample-data, see SOURCE.md), the configurable products and their
size/color children of ConfigurableSampleData_products.csv, then the simple bags of
CatalogSampleData_SimpleProduct_products_gear_bags.csv, keeping only the columns the simulator
serves. Run from the repository root:
python3 src/sim/commerce/catalog/extract.py PATH/TO/magento-sample-data"""
import csv, os, sys

source = sys.argv[1]
out = csv.writer(open("src/sim/commerce/catalog/products.csv", "w", newline=""), lineterminator="\n")
out.writerow(["sku", "type", "name", "price", "weight", "attribute_set", "size", "color", "parent"])
rows = list(csv.DictReader(open(os.path.join(source, "ConfigurableSampleData_products.csv"))))
parent_of = {}
for row in rows:
    for variation in filter(None, row["configurable_variations"].split("|")):
        fields = dict(part.split("=", 1) for part in variation.split(","))
        parent_of[fields["sku"]] = row["sku"]
for row in rows:
    attributes = dict(a.split("=", 1) for a in row["additional_attributes"].split(",") if "=" in a)
    size = attributes.get("size", "") if row["product_type"] == "simple" else ""
    color = attributes.get("color", "") if row["product_type"] == "simple" else ""
    out.writerow([row["sku"], row["product_type"], row["name"], row["price"], row["weight"] or "1",
                  row["attribute_set_code"], size, color, parent_of.get(row["sku"], "")])
for row in csv.DictReader(open(os.path.join(source, "CatalogSampleData_SimpleProduct_products_gear_bags.csv"))):
    out.writerow([row["sku"], "simple", row["name"], row["price"], "1", row["attribute_set"], "", "", ""])
