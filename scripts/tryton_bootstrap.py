# Bootstraps the Tryton database "erp" of scripts/tryton.sh (directly through trytond, no server):
# a company with its chart of accounts and fiscal year, a product category, a customer with an
# address, a payment term, two products (the SKUs of the commerce orders of tests/it/tryton.rs) and a
# REST application key of admin. Writes DIR/rest-key and DIR/ids.json (the ids of what it created).
# Usage: TRYTOND_CONFIG=DIR/trytond.conf python tryton_bootstrap.py DIR
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
customer.save()
payment_term = create_payment_term()
payment_term.save()

Template = Model.get('product.template')
products = {}
for code, name, price in [('MH01-XS-Black', 'Chaz Kangeroo Hoodie XS', '52.00'),
                          ('MH01-S-Black', 'Chaz Kangeroo Hoodie S', '52.00')]:
    template = Template(name=name, type='goods', default_uom=unit, sale_uom=unit, salable=True,
                        list_price=Decimal(price), account_category=category)
    product, = template.products
    product.suffix_code = code
    template.save()
    products[code] = template.products[0].id

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
               'unit': unit.id, 'products': products}, f)
print('bootstrapped', json.dumps(products))
