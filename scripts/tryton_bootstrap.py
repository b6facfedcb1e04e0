# Bootstraps the Tryton database "erp" of scripts/tryton.sh (directly through trytond, no server):
# a company with its chart of accounts and fiscal year, a product category, a customer with an
# address and the e-mail of the commerce simulator's first customer, the web-shop party (the customer
# of every other shop order), a payment term, one product per simple SKU of the commerce simulator's
# catalog (product code = shop SKU, so that its orders and stock map one to one; see
# pipelines/demo/tryton/), the warehouse coded MAIN (pipelines/demo/tables/warehouses.csv) and a REST
# application key of admin. Writes DIR/rest-key and DIR/ids.json (the ids of what it created).
# Usage: TRYTOND_CONFIG=DIR/trytond.conf python tryton_bootstrap.py DIR
import csv
import json
import os
import sys
from decimal import Decimal

from proteus import Model
from proteus import config as pconfig

out = sys.argv[1]
pconfig.set_trytond('erp', config_file=os.environ['TRYTOND_CONFIG'])

from trytond.modules.account.tests.tools import create_chart, create_fiscalyear, get_accounts  # noqa: E402
from trytond.modules.account_invoice.tests.tools import (  # noqa: E402
    create_payment_term, set_fiscalyear_invoice_sequences)
from trytond.modules.company.tests.tools import create_company, get_company  # noqa: E402

create_company()
company = get_company()
create_chart()
fiscalyear = set_fiscalyear_invoice_sequences(create_fiscalyear())
fiscalyear.click('create_period')
accounts = get_accounts()

Category = Model.get('product.category')
category = Category(name='Apparel', accounting=True,
                    account_expense=accounts['expense'], account_revenue=accounts['revenue'])
category.save()
Uom = Model.get('product.uom')
unit, = Uom.find([('name', '=', 'Unit')])

Party = Model.get('party.party')
customer = Party(name='Veronica Costello')
address, = customer.addresses
address.street = '6146 Honey Bluff Parkway'
address.city = 'Calder'
address.postal_code = '49628-7978'
customer.contact_mechanisms.new(type='email', value='roni_cost@example.com')
customer.save()
# The customer of the shop orders whose e-mail is no Tryton party's (ERP_WEB_CUSTOMER's counterpart).
web = Party(name='Web shop')
web_address, = web.addresses
web_address.street = 'Online orders'
web_address.city = 'Calder'
web.save()
payment_term = create_payment_term()
payment_term.save()

Template = Model.get('product.template')
# The commerce simulator's catalog: its simple products (src/sim/commerce/catalog/products.csv) and
# the SKUs with awkward characters it adds (AWKWARD in src/sim/commerce/catalog/mod.rs).
catalog = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'src', 'sim', 'commerce', 'catalog',
                       'products.csv')
with open(catalog, newline='') as f:
    rows = [(r['sku'], r['name'], r['price']) for r in csv.DictReader(f) if r['type'] == 'simple']
rows += [('WT/09 Blue', 'Tank with a slash and a space', '34'), ('GIFT+CARD 50', 'Gift card with a plus', '50'),
         ('100%-COTTON', 'Cotton tee with a percent', '19')]
# Created through trytond's models directly, 50 a call (more overflows SQLite's parser): proteus' client-side
# records would take minutes.
from trytond.pool import Pool  # noqa: E402
from trytond.transaction import Transaction  # noqa: E402
with Transaction().start('erp', 0, context={'company': company.id}) as transaction:
    TrytonTemplate = Pool('erp').get('product.template')
    for start in range(0, len(rows), 50):
        TrytonTemplate.create([{
            'name': name, 'type': 'goods', 'default_uom': unit.id, 'sale_uom': unit.id, 'salable': True,
            'list_price': Decimal(price), 'account_category': category.id,
            'products': [('create', [{'suffix_code': code}])],
            } for code, name, price in rows[start:start + 50]])
    transaction.commit()
Product = Model.get('product.product')
products = {p.code: p.id for p in Product.find([('code', 'in', ['MH01-XS-Black', 'MH01-S-Black'])])}

Location = Model.get('stock.location')
warehouse, = Location.find([('type', '=', 'warehouse')])
warehouse.code = 'MAIN'
warehouse.save()

User = Model.get('res.user')
admin, = User.find([('login', '=', 'admin')])
Application = Model.get('res.user.application')
application = Application(user=admin, application='rest')
application.save()

with open(os.path.join(out, 'rest-key'), 'w') as f:
    f.write(application.key)
with open(os.path.join(out, 'ids.json'), 'w') as f:
    json.dump({'company': company.id, 'currency': company.currency.id, 'customer': customer.id,
               'address': customer.addresses[0].id, 'payment_term': payment_term.id,
               'unit': unit.id, 'products': products, 'web_customer': web.id,
               'warehouse': warehouse.id}, f)
print('bootstrapped', json.dumps(products))
