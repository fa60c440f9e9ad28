"""The product menu of manual 3.1 (Lotes, Consultas, Servicios, Reportes): sections, items and
the permissions that show each of them."""

from dataclasses import dataclass


@dataclass(frozen=True)
class MenuItem:
    label: str
    endpoint: str | None  # None: announced in the menu, arriving in a later release
    permissions: tuple[str, ...]
    unnamed_only: bool = False  # only an unnamed (innominate) product has it


@dataclass(frozen=True)
class MenuSection:
    label: str
    endpoint: str
    permissions: tuple[str, ...]
    items: tuple[MenuItem, ...]
    blueprints: tuple[str, ...] = ()  # whose pages belong to this section (menu highlight)


BATCH_PERMS = ("batch.upload", "batch.confirm", "batch.delete", "batch.sign", "batch.authorize")
INNOMINATE_PERMS = ("innominate.request", "innominate.affiliate")
MASTER_PERMS = ("master.balance", "master.credit", "master.debit", "master.fund")
CARD_PERMS = ("cards.view", "cards.manage")
ORDER_PERMS = ("order.view", "order.void", "order.pay")

# The product menu of manual 3.1; each later issue points its item's endpoint at its page.
MENU = (
    MenuSection(
        "Lotes",
        "companies.section_batches",
        BATCH_PERMS + INNOMINATE_PERMS,
        (
            MenuItem("Carga de lotes", "batches.upload", ("batch.upload", "batch.confirm", "batch.delete")),
            MenuItem("Autorización", "authorization.index", ("batch.sign", "batch.authorize")),
            MenuItem("Tarjetas innominadas - Solicitud", "innominate.request_form", ("innominate.request",), True),
            MenuItem("Tarjetas innominadas - Afiliación", "innominate.affiliation", ("innominate.affiliate",), True),
        ),
        ("batches", "authorization", "innominate"),
    ),
    MenuSection(
        "Consultas",
        "companies.section_queries",
        ORDER_PERMS + CARD_PERMS,
        (
            MenuItem("Órdenes de servicio", "orders.index", ("order.view",)),
            MenuItem("Consulta de tarjetas", "cards.index", CARD_PERMS),
        ),
        ("orders", "cards"),
    ),
    MenuSection(
        "Servicios",
        "companies.section_services",
        MASTER_PERMS,
        (MenuItem("Cuenta maestra", "master.index", MASTER_PERMS),),
        ("master",),
    ),
    MenuSection(
        "Reportes",
        "companies.section_reports",
        ("reports.view",),
        (
            MenuItem("Catálogo de reportes", "reports.index", ("reports.view",)),
            MenuItem("Mis descargas", "exports.downloads", ("reports.view",)),
        ),
        ("reports", "exports"),
    ),
)


def section(label: str) -> MenuSection:
    return next(s for s in MENU if s.label == label)


def visible_menu(perms: frozenset, named: bool = True) -> list[tuple[MenuSection, list[MenuItem]]]:
    """The sections and items the user may use on a product (named or not); the rest are not
    shown (and answer 403, or 404 for an unnamed-only page of a named product)."""
    result = []
    for sec in MENU:
        if perms.intersection(sec.permissions):
            items = [i for i in sec.items if perms.intersection(i.permissions) and not (named and i.unnamed_only)]
            result.append((sec, items))
    return result
