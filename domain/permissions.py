"""Permissions a user holds per company-product (SPEC §1)."""

PERMISSIONS = {
    "batch.upload": "Carga de lotes y lotes pendientes",
    "batch.confirm": "Confirmar un lote válido",
    "batch.delete": "Eliminar un lote no autorizado",
    "batch.sign": "Firmar lotes",
    "batch.authorize": "Autorizar lotes",
    "order.view": "Consultar órdenes de servicio",
    "order.void": "Anular órdenes de servicio",
    "order.pay": "Pagar órdenes de servicio",
    "innominate.request": "Solicitud de tarjetas innominadas",
    "innominate.affiliate": "Afiliación de tarjetas innominadas",
    "master.balance": "Cuenta maestra: consultar saldo",
    "master.credit": "Cuenta maestra: abono a tarjeta",
    "master.debit": "Cuenta maestra: cargo a tarjeta",
    "master.fund": "Recargar la cuenta maestra",
    "cards.view": "Consulta de tarjetas",
    "cards.manage": "Bloquear y desbloquear tarjetas",
    "reports.view": "Reportes",
    "users.manage": "Administrar usuarios de la empresa",
}

ALL = frozenset(PERMISSIONS)


def parse_permissions(text: str) -> frozenset:
    """Parse 'all' or a comma list of permission codes; raise ValueError naming unknown ones."""
    text = (text or "").strip()
    if text.lower() in {"all", "todos", "*"}:
        return ALL
    wanted = {p.strip() for p in text.split(",") if p.strip()}
    unknown = sorted(wanted - ALL)
    if unknown:
        raise ValueError(f"Permiso desconocido: {', '.join(unknown)}")
    if not wanted:
        raise ValueError("Indica al menos un permiso")
    return frozenset(wanted)
