from tests.conftest import login
from tests.factories import make_company, make_product, make_user


def test_login_reaches_product_page(client):
    company = make_company("ACME SAS")
    product = make_product(company)
    make_user("ana", perms={product: "all"})
    response = login(client, "ana")
    assert response.status_code == 302
    page = client.get("/empresas").get_data(as_text=True)
    assert "ACME SAS" in page and "Clásica / Visa" in page
    page = client.get(f"/productos/{product.id}").get_data(as_text=True)
    assert "Lotes por autorizar" in page and ">Lotes<" in page
