"""Batch file layouts (SPEC §5) as plain data: batch types, the columns of every uploadable
type, and the fixed-width TXT layout for recharges.

The templates download, the help pages and the batch parser all read this module, so a
column is described once: its header exactly as the SPEC writes it, whether it is required,
the rule in the words a user reads, and an example value.

The issuer's own layouts (the templates of its current portal, SPEC §5.1) are read as ours:
a column may have other header names (`Column.aliases`: TIPO DE DOCUMENTO for TIPO ID), and a
layout may have optional columns only the issuer's templates carry (`Layout.issuer_columns`:
the postal codes and the correspondence address). Our templates and help show `columns`; the
parser reads `read_columns`.
"""

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class BatchKind(StrEnum):
    EMI = "EMI"
    REC = "REC"
    AFI = "AFI"
    INN = "INN"
    REP = "REP"


# The name shown in "Tipo de lote".
BATCH_TYPE_NAMES: dict[BatchKind, str] = {
    BatchKind.EMI: "Emisión nominada (Id persona)",
    BatchKind.REC: "Recarga (Id persona)",
    BatchKind.AFI: "Afiliación (Id persona)",
    BatchKind.INN: "Emisión innominada",
    BatchKind.REP: "Reposición",  # a new named card for one blocked for loss or theft (services/replacement.py)
}

# Types that arrive as a file through Carga de lotes; INN comes from the Solicitud form, REP
# from the Reposición dialog.
UPLOADABLE: tuple[BatchKind, ...] = (BatchKind.EMI, BatchKind.REC, BatchKind.AFI)


class ColumnKind(StrEnum):
    TEXT = "text"
    CODE = "code"  # digits or letters kept as text: leading zeros matter
    DATE = "date"  # DD/MM/AAAA, or an Excel date cell
    AMOUNT = "amount"  # decimal with "." and at most 2 decimals, or an Excel number cell


@dataclass(frozen=True)
class Column:
    name: str
    required: bool
    rule: str
    example: str
    kind: ColumnKind = ColumnKind.TEXT
    choices: tuple[str, ...] = ()
    max_length: int | None = None
    aliases: tuple[str, ...] = ()  # other headers read as this column (the issuer's templates)

    @property
    def requirement(self) -> str:
        return "Obligatorio" if self.required else "Opcional"

    @property
    def header_names(self) -> tuple[str, ...]:
        """Every header a file may give this column: its name, then its aliases."""
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class Layout:
    kind: BatchKind
    name: str
    title: str  # the title row of the .xlsx template
    columns: tuple[Column, ...]  # our layout, as the template and the help show it
    issuer_columns: tuple[Column, ...] = ()  # optional, only in the issuer's templates

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def read_columns(self) -> tuple[Column, ...]:
        """Every column a file of this type may have: ours, then the issuer's optional ones."""
        return self.columns + self.issuer_columns

    @property
    def required_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        return next(c for c in self.read_columns if c.name == name)


ID_TYPES = ("CC", "CE", "TI", "PA", "PEP", "PPT")
MARITAL_STATUSES = ("SOLTERO", "CASADO", "UNION LIBRE", "VIUDO", "DIVORCIADO")
SEXES = ("MASCULINO", "FEMENINO")

_NAME_RULE = "De 1 a 100 letras; se admiten tildes, ñ, espacios, apóstrofo (') y guion (-)"

ID_TYPE = Column(
    "TIPO ID",
    True,
    "Tipo de documento: CC, CE, TI, PA, PEP o PPT",
    "CC",
    ColumnKind.CODE,
    choices=ID_TYPES,
    aliases=("TIPO DE DOCUMENTO",),
)
ID_NUMBER_ALIASES = ("NÚMERO DE DOCUMENTO",)

EMI_COLUMNS: tuple[Column, ...] = (
    Column(
        "SUCURSAL",
        True,
        "Código de una de las sucursales de la empresa (1 a 3 dígitos)",
        "1",
        ColumnKind.CODE,
        max_length=3,
    ),
    ID_TYPE,
    Column(
        "NRO ID",
        True,
        "CC, TI y CE: de 3 a 15 dígitos. PA, PEP y PPT: de 5 a 15 letras o dígitos. No puede repetirse en el archivo",
        "1020304050",
        ColumnKind.CODE,
        max_length=15,
        aliases=ID_NUMBER_ALIASES,
    ),
    Column("PRIMER APELLIDO", True, _NAME_RULE, "GÓMEZ", max_length=100),
    Column("SEGUNDO APELLIDO", False, _NAME_RULE, "PEÑA", max_length=100),
    Column("PRIMER NOMBRE", True, _NAME_RULE, "ANA", max_length=100),
    Column("SEGUNDO NOMBRE", False, _NAME_RULE, "MARÍA", max_length=100),
    Column(
        "FECHA DE NACIMIENTO",
        True,
        "Fecha DD/MM/AAAA (o una celda de fecha); la persona debe tener entre 14 y 110 años",
        "15/03/1990",
        ColumnKind.DATE,
    ),
    Column(
        "ESTADO CIVIL",
        False,
        "SOLTERO, CASADO, UNION LIBRE, VIUDO o DIVORCIADO",
        "SOLTERO",
        choices=MARITAL_STATUSES,
    ),
    Column("SEXO", True, "MASCULINO o FEMENINO (también se acepta M o F)", "FEMENINO", choices=SEXES),
    Column("DIRECCION DE RESIDENCIA", False, "Hasta 100 caracteres", "Calle 45 # 12-30", max_length=100),
    Column("CIUDAD DE RESIDENCIA", False, "Hasta 40 caracteres", "Bogotá", max_length=40),
    Column("TELEFONO FIJO", False, "De 7 a 10 dígitos", "6013456789", ColumnKind.CODE, max_length=10),
    Column(
        "TELEFONO CELULAR",
        True,
        "10 dígitos; empieza por 3",
        "3001234567",
        ColumnKind.CODE,
        max_length=10,
    ),
    Column(
        "CORREO ELECTRONICO",
        True,
        "Dirección de correo válida, hasta 200 caracteres. No puede repetirse en el archivo",
        "ana.gomez@ejemplo.com",
        max_length=200,
    ),
)

# The issuer's emission layout has 17 columns: ours without CIUDAD DE RESIDENCIA, plus these.
_POSTAL_RULE = "De 1 a 10 dígitos (en Colombia, 6)"
ISSUER_PERSON_COLUMNS: tuple[Column, ...] = (
    Column("CODIGO POSTAL DIRECCION RESIDENCIA", False, _POSTAL_RULE, "110111", ColumnKind.CODE, max_length=10),
    Column("DIRECCION DE CORRESPONDENCIA", False, "Hasta 100 caracteres", "Carrera 7 # 71-21", max_length=100),
    Column("CODIGO POSTAL DIRECCION CORRESPONDENCIA", False, _POSTAL_RULE, "110231", ColumnKind.CODE, max_length=10),
)

REC_COLUMNS: tuple[Column, ...] = (
    ID_TYPE,
    Column(
        "NRO ID",
        True,
        "Documento de una persona con una tarjeta activa del producto en la empresa. No puede repetirse en el archivo",
        "1020304050",
        ColumnKind.CODE,
        max_length=15,
        aliases=ID_NUMBER_ALIASES,
    ),
    Column(
        "MONTO",
        True,
        "Valor mayor que 0, con punto (.) como separador decimal y máximo 2 decimales; "
        "no puede superar el límite por tarjeta del producto",
        "150000.00",
        ColumnKind.AMOUNT,
    ),
    Column("DESCRIPCION", False, "Hasta 38 caracteres", "Auxilio de alimentación", max_length=38),
)

AFI_COLUMNS: tuple[Column, ...] = (
    Column(
        "NO. TARJETA",
        True,
        "Número de tarjeta tal como aparece (enmascarado) en el archivo de afiliación "
        "descargado en Tarjetas innominadas - Afiliación; la tarjeta no debe estar afiliada",
        "450714******9053",
        ColumnKind.CODE,
    ),
    Column(
        "REFERENCIA",
        False,
        "Referencia de la tarjeta, tal como la trae el archivo de afiliación; identifica la tarjeta "
        "cuando dos tarjetas sin afiliar tienen el mismo número enmascarado",
        "1042",
        ColumnKind.CODE,
    ),
    *EMI_COLUMNS,
)

LAYOUTS: dict[BatchKind, Layout] = {
    BatchKind.EMI: Layout(
        BatchKind.EMI,
        BATCH_TYPE_NAMES[BatchKind.EMI],
        "ARCHIVO DE EMISIÓN NOMINADA",
        EMI_COLUMNS,
        ISSUER_PERSON_COLUMNS,
    ),
    BatchKind.REC: Layout(BatchKind.REC, BATCH_TYPE_NAMES[BatchKind.REC], "ARCHIVO DE RECARGA", REC_COLUMNS),
    BatchKind.AFI: Layout(
        BatchKind.AFI,
        BATCH_TYPE_NAMES[BatchKind.AFI],
        "ARCHIVO DE AFILIACIÓN DE TARJETAHABIENTES",
        AFI_COLUMNS,
        ISSUER_PERSON_COLUMNS,
    ),
}


def layout(kind: str) -> Layout:
    """The column layout of an uploadable batch type; KeyError for INN or an unknown code."""
    return LAYOUTS[BatchKind(kind)]


def batch_type_name(kind: str) -> str:
    return BATCH_TYPE_NAMES[BatchKind(kind)]


# --- Fixed-width TXT for recharges (SPEC §5.4) ---------------------------------------------


@dataclass(frozen=True)
class FixedField:
    name: str
    start: int  # 1-based position of the first character
    length: int
    format: str
    example: str
    numeric: bool = True  # zero-padded on the left

    @property
    def end(self) -> int:
        return self.start + self.length - 1

    def slice(self, line: str) -> str:
        return line[self.start - 1 : self.end]


@dataclass(frozen=True)
class FixedRecord:
    name: str
    length: int
    fields: tuple[FixedField, ...]

    def __post_init__(self):
        position = 1
        for f in self.fields:
            if f.start != position:
                raise ValueError(f"{self.name}: {f.name} starts at {f.start}, expected {position}")
            position += f.length
        if position - 1 != self.length:
            raise ValueError(f"{self.name}: fields add up to {position - 1}, expected {self.length}")

    def format_line(self, *values) -> str:
        """One line of this record from its field values, in order (numbers zero-padded)."""
        parts = []
        for f, value in zip(self.fields, values, strict=True):
            text = str(value)
            text = text.rjust(f.length, "0") if f.numeric else text.ljust(f.length)
            if len(text) != f.length:
                raise ValueError(f"{f.name}: {text!r} does not fit in {f.length} characters")
            parts.append(text)
        return "".join(parts)


_AMOUNT_FORMAT = "Numérico, ceros a la izquierda; los 2 últimos dígitos son centavos, sin separadores"

REC_TXT_CONTROL = FixedRecord(
    "Registro de control",
    56,
    (
        FixedField("Tipo de registro", 1, 1, "Fijo: 0", "0"),
        FixedField("Número de lote", 2, 8, "Numérico", "24031501"),
        FixedField("NIT de la empresa", 10, 15, "Numérico, ceros a la izquierda", "000000900291499"),
        FixedField("Cantidad de registros", 25, 5, "Numérico, ceros a la izquierda", "00002"),
        FixedField("Tipo de lote", 30, 1, "Fijo: 2 (recarga)", "2"),
        FixedField("Fecha", 31, 8, "AAAAMMDD", "20240315"),
        FixedField("Monto total", 39, 18, _AMOUNT_FORMAT, "000000000035000000"),
    ),
)

REC_TXT_DETAIL = FixedRecord(
    "Registro de detalle",
    42,
    (
        FixedField("Tipo de registro", 1, 1, "Fijo: 2", "2"),
        FixedField("Número de lote", 2, 8, "Numérico, el mismo del registro de control", "24031501"),
        FixedField(
            "Número de identificación",
            10,
            15,
            "Numérico, ceros a la izquierda; el tipo de documento es CC",
            "000001020304050",
        ),
        FixedField("Monto", 25, 18, _AMOUNT_FORMAT, "000000000015000000"),
    ),
)

CONTROL_RECORD_TYPE = "0"
DETAIL_RECORD_TYPE = "2"
TXT_BATCH_TYPE = "2"


def rec_txt_lines(batch_number: str, nit: str, day: date, details: list[tuple[str, int]]) -> list[str]:
    """The lines of a fixed-width recharge file: the control record, then one detail record
    per (person ID, amount in centavos)."""
    total = sum(cents for _id, cents in details)
    control = REC_TXT_CONTROL.format_line(
        CONTROL_RECORD_TYPE, batch_number, nit, len(details), TXT_BATCH_TYPE, day.strftime("%Y%m%d"), total
    )
    lines = [control]
    for person_id, cents in details:
        lines.append(REC_TXT_DETAIL.format_line(DETAIL_RECORD_TYPE, batch_number, person_id, cents))
    return lines


# The example shown in the downloads and the help: two recharges of $ 150.000 and $ 200.000.
REC_TXT_EXAMPLE: tuple[str, ...] = tuple(
    rec_txt_lines("24031501", "900291499", date(2024, 3, 15), [("1020304050", 15_000_000), ("52123456", 20_000_000)])
)
