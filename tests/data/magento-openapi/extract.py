"""Writes definitions-subset.json: the definitions of admin-schema-2.4.9.yaml reachable from the
response types the commerce simulator's schema test checks. Run from the repository root:
python3 tests/data/magento-openapi/extract.py PATH/TO/admin-schema-2.4.9.yaml"""
import json, sys, yaml

ROOTS = [
    "catalog-data-product-search-results-interface",
    "catalog-data-product-interface",
    "sales-data-order-search-result-interface",
    "inventory-api-data-source-item-search-results-interface",
    "eav-data-attribute-option-interface",
    "catalog-data-price-update-result-interface",
    "catalog-data-base-price-interface",
    "catalog-data-special-price-interface",
    "catalog-data-tier-price-interface",
    "sales-data-order-interface",
    "sales-data-order-status-history-search-result-interface",
    "sales-data-shipment-interface",
    "sales-data-shipment-search-result-interface",
    "customer-data-customer-interface",
    "customer-data-customer-search-results-interface",
    "customer-data-group-interface",
    "customer-data-group-search-results-interface",
    "asynchronous-operations-data-detailed-bulk-operations-status-interface",
    "asynchronous-operations-data-bulk-operations-status-interface",
]
spec = yaml.safe_load(open(sys.argv[1]))
definitions = spec["definitions"]
keep, todo = {}, list(ROOTS)
while todo:
    name = todo.pop()
    if name in keep:
        continue
    keep[name] = definitions[name]
    def walk(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/definitions/"):
                todo.append(ref[len("#/definitions/"):])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(definitions[name])
out = "tests/data/magento-openapi/definitions-subset.json"
json.dump({"definitions": dict(sorted(keep.items()))}, open(out, "w"), indent=1, sort_keys=True)
open(out, "a").write("\n")
print(len(keep), "definitions")
