"""services/provisioning.py: companies, branches, products and users, refused in Spanish and
never half-created (the CLI, the demo data, the factories and the benchmarks all call it)."""

import pytest

from adapters.bank import SimulatedBank
from models import BankAccount, Branch, Company, Product, User, UserPermission
from services import Refused
from services.provisioning import (
    ProvisioningError,
    create_branch,
    create_company,
    create_product,
    create_user_with_grants,
    update_product,
)


@pytest.fixture
def company(app, db):
    return create_company(nit="900123456", name="ACME SAS", legal_name="ACME SAS", opening_balance=50_000)


def test_a_company_opens_its_account_at_the_simulated_bank(company):
    assert SimulatedBank().balance(company.bank_account) == 50_000


def test_refusals_are_spanish_and_a_kind_of_refused(company):
    with pytest.raises(ProvisioningError, match="Ya existe una empresa con NIT 900123456") as caught:
        create_company(nit="900123456", name="OTRA")
    assert isinstance(caught.value, Refused)


def test_a_company_whose_bank_account_exists_is_not_created(company):
    with pytest.raises(ProvisioningError, match="La cuenta bancaria"):
        create_company(nit="900999999", name="OTRA", bank_account=company.bank_account)
    assert Company.select().count() == 1 and BankAccount.select().count() == 1


@pytest.mark.parametrize("code", ["", "1234", "A1"])
def test_branch_codes_are_one_to_three_digits(company, code):
    with pytest.raises(ProvisioningError, match="Código de sucursal inválido"):
        create_branch(company, code, "Norte")
    assert Branch.select().count() == 0


def test_product_bin_is_checked_on_create_and_update(company):
    with pytest.raises(ProvisioningError, match="BIN inválido"):
        create_product(company, "Clásica", bin="12")
    product = create_product(company, "Clásica", bin="450714")
    with pytest.raises(ProvisioningError, match="BIN inválido"):
        update_product(product, bin="abc")
    assert Product.get_by_id(product.id).bin == "450714"


def test_a_bad_grant_creates_no_user(company):
    create_product(company, "Clásica")
    with pytest.raises(ProvisioningError, match="No existe el producto Otra"):
        create_user_with_grants(
            "ana", "Ana", "Pérez", "ana@example.com", "", "", ["900123456:Clásica:all", "900123456:Otra:all"]
        )
    assert User.select().count() == 0 and UserPermission.select().count() == 0
