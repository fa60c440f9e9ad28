"""`flask ledger check`: the ledger's invariants, checked against the database as it is now.

`check()` returns one Spanish line per problem (empty when all is well):

- every account's balance equals the sum of its postings, and its last posting's balance_after
  equals it; every posting's balance_after is the running sum of the account's postings;
- every operation balances (its postings add up to 0) and has postings;
- no account but the EXTERNAL ones is negative, now or after any posting;
- each company's bank account in our books (ledger.company_bank_account, code "bank:<id>")
  reconciles movement by movement with the simulated bank's own records (BankMovement) of
  the company's bank account (Company.bank_account).

Reconciliation
--------------
Each bank movement the program makes carries a key, and so does its ledger operation. BANK_RULES
pairs them: a bank key `<bank prefix><rest>` belongs to the ledger operation `<ledger prefix><rest>`
(a service order's debit "orden-servicio:<order id>" to "pago-orden:<order id>"; the funding of
a master account, "fondeo:<MasterOperation key>", to the same key). A rule without a ledger
prefix names movements that are not the program's (the opening balance): they have no
operation. Then, for each company:

- every bank movement has a rule, and, unless the rule says it is not the program's, its ledger
  operation, whose postings on the company's bank account add up to the movement's amount (a
  debit of $ 100 is -100 in both);
- every operation that moves the company's bank account in our books has a rule and its bank
  movement, on that company's account.

A new kind of bank movement is one line in BANK_RULES. A movement or an operation no rule
knows is a problem: a payment nobody taught the check about is exactly what it is there to see.

A payment half-way (the bank has debited, the job settling stuck payments has not posted yet)
shows as a debit without its operation until that job runs: the check reads committed data
only, so run it when no payment is in flight (the benchmark runs it at the end).
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.money import format_cop
from models import BankAccount, BankMovement, Company, LedgerAccount, LedgerOperation, db

MAX_LINES = 20  # per kind of problem: a broken ledger needs the first ones, not thousands


@dataclass(frozen=True)
class BankRule:
    bank_prefix: str  # the simulated bank's movement key starts with this
    ledger_prefix: str | None  # its ledger operation's key: this + the same rest; None: not the program's
    label: str  # what the movement is, for the problem lines


BANK_RULES = (
    BankRule("apertura:", None, "saldo inicial"),
    BankRule("orden-servicio:", "pago-orden:", "pago de orden de servicio"),
    BankRule("fondeo:", "fondeo:", "recarga de cuenta maestra"),
)


def _rule_for_bank_key(key: str) -> BankRule | None:
    matches = [r for r in BANK_RULES if key.startswith(r.bank_prefix)]
    return max(matches, key=lambda r: len(r.bank_prefix), default=None)


def _rule_for_ledger_key(key: str) -> BankRule | None:
    matches = [r for r in BANK_RULES if r.ledger_prefix is not None and key.startswith(r.ledger_prefix)]
    return max(matches, key=lambda r: len(r.ledger_prefix), default=None)


def ledger_key_of(bank_key: str) -> str | None:
    """The ledger operation key of a bank movement's key (None if it has none or no rule knows it)."""
    rule = _rule_for_bank_key(bank_key)
    if rule is None or rule.ledger_prefix is None:
        return None
    return rule.ledger_prefix + bank_key[len(rule.bank_prefix) :]


def bank_key_of(ledger_key: str) -> str | None:
    """The bank movement key of a ledger operation that moves a company's bank account."""
    rule = _rule_for_ledger_key(ledger_key)
    if rule is None:
        return None
    return rule.bank_prefix + ledger_key[len(rule.ledger_prefix) :]


# ---------------------------------------------------------------- the check


def counts() -> tuple[int, int]:
    """(accounts, operations) in the ledger."""
    return LedgerAccount.select().count(), LedgerOperation.select().count()


def check() -> list[str]:
    """Every problem found, one Spanish line each; empty when the ledger is right."""
    problems: list[str] = []
    for part in (_balances, _running_balances, _operations, _negatives, _bank_reconciliation):
        problems += _capped(part())
    return problems


def _capped(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_LINES:
        return lines
    return lines[:MAX_LINES] + [f"… y {len(lines) - MAX_LINES} problemas más de este tipo"]


def _rows(sql: str, params: tuple = ()) -> list[tuple]:
    return db.execute_sql(sql.replace("?", db.param), params).fetchall()


def _account(code: str, name: str) -> str:
    return f"Cuenta {code} ({name})"


def _balances() -> list[str]:
    problems = []
    rows = _rows(
        "SELECT a.code, a.name, a.balance, COALESCE(s.total, 0), last.balance_after "
        "FROM ledger_account a "
        "LEFT JOIN (SELECT account_id, SUM(amount) AS total, MAX(id) AS last_id "
        "           FROM ledger_posting GROUP BY account_id) s ON s.account_id = a.id "
        "LEFT JOIN ledger_posting last ON last.id = s.last_id "
        "WHERE a.balance <> COALESCE(s.total, 0) OR (last.id IS NOT NULL AND last.balance_after <> a.balance) "
        "ORDER BY a.id"
    )
    for code, name, balance, total, last_after in rows:
        if balance != total:
            problems.append(
                f"{_account(code, name)}: su saldo es {format_cop(balance)} y sus movimientos suman {format_cop(total)}"
            )
        if last_after is not None and last_after != balance:
            problems.append(
                f"{_account(code, name)}: su saldo es {format_cop(balance)} y su último movimiento "
                f"dejó {format_cop(last_after)}"
            )
    return problems


def _running_balances() -> list[str]:
    """Each posting's balance_after is the running sum of its account's postings (in id order:
    postings of one account are written under its row lock, one transaction after another)."""
    rows = _rows(
        "SELECT a.code, a.name, t.id, t.balance_after, t.running FROM ("
        "  SELECT account_id, id, balance_after,"
        "         SUM(amount) OVER (PARTITION BY account_id ORDER BY id ROWS UNBOUNDED PRECEDING) AS running"
        "  FROM ledger_posting) t "
        "JOIN ledger_account a ON a.id = t.account_id "
        "WHERE t.balance_after <> t.running ORDER BY t.account_id, t.id"
    )
    return [
        f"{_account(code, name)}: el movimiento {posting_id} dice saldo {format_cop(after)} "
        f"y la suma hasta él es {format_cop(running)}"
        for code, name, posting_id, after, running in rows
    ]


def _operations() -> list[str]:
    unbalanced = _rows(
        "SELECT o.key, SUM(p.amount) FROM ledger_operation o JOIN ledger_posting p ON p.operation_id = o.id "
        "GROUP BY o.id, o.key HAVING SUM(p.amount) <> 0 ORDER BY o.id"
    )
    empty = _rows(
        "SELECT o.key FROM ledger_operation o "
        "WHERE NOT EXISTS (SELECT 1 FROM ledger_posting p WHERE p.operation_id = o.id) ORDER BY o.id"
    )
    return [f"Operación {key}: sus movimientos suman {format_cop(total)}, no $ 0,00" for key, total in unbalanced] + [
        f"Operación {key}: no tiene movimientos" for (key,) in empty
    ]


def _negatives() -> list[str]:
    now = _rows(
        "SELECT code, name, balance FROM ledger_account WHERE kind <> ? AND balance < 0 ORDER BY id",
        (LedgerAccount.EXTERNAL,),
    )
    before = _rows(
        "SELECT a.code, a.name, MIN(p.balance_after) FROM ledger_posting p JOIN ledger_account a ON a.id = p.account_id "
        "WHERE a.kind <> ? AND p.balance_after < 0 GROUP BY a.id, a.code, a.name ORDER BY a.id",
        (LedgerAccount.EXTERNAL,),
    )
    return [f"{_account(code, name)}: saldo negativo {format_cop(balance)}" for code, name, balance in now] + [
        f"{_account(code, name)}: un movimiento la dejó en {format_cop(lowest)}" for code, name, lowest in before
    ]


# ---------------------------------------------------------------- bank reconciliation


def _bank_reconciliation() -> list[str]:
    problems = []
    books = {
        account_id: company_id
        for account_id, company_id in _rows(
            "SELECT id, company_id FROM ledger_account WHERE code LIKE ? AND kind = ?",
            ("bank:%", LedgerAccount.EXTERNAL),
        )
    }
    companies = {c.id: c for c in Company.select(Company.id, Company.name, Company.bank_account).order_by(Company.id)}
    for company in companies.values():
        book = next((a for a, c in books.items() if c == company.id), None)
        problems += _reconcile(company, book)
    for account_id, company_id in books.items():
        if company_id not in companies:
            problems.append(f"La cuenta bancaria del libro {account_id} no pertenece a ninguna empresa")
    return problems


def _reconcile(company: Company, book_account: int | None) -> list[str]:
    """One company: its bank's movements against its bank account in our books."""
    who = f"{company.name} (empresa {company.id})"
    movements = {
        key: (amount, description)
        for key, amount, description in (
            BankMovement.select(BankMovement.key, BankMovement.amount, BankMovement.description)
            .join(BankAccount)
            .where(BankAccount.number == company.bank_account)
            .tuples()
        )
    }
    posted: dict[str, int] = {}
    if book_account is not None:
        for key, amount in _rows(
            "SELECT o.key, SUM(p.amount) FROM ledger_posting p JOIN ledger_operation o ON o.id = p.operation_id "
            "WHERE p.account_id = ? GROUP BY o.id, o.key",
            (book_account,),
        ):
            posted[key] = int(amount)
    problems = []
    for key, (amount, description) in movements.items():
        rule = _rule_for_bank_key(key)
        if rule is None:
            problems.append(
                f"Banco de {who}: el movimiento {key} ({description}, {format_cop(amount)}) "
                "no tiene regla de conciliación"
            )
            continue
        if rule.ledger_prefix is None:
            continue  # not the program's (the opening balance)
        ledger_key = rule.ledger_prefix + key[len(rule.bank_prefix) :]
        if ledger_key not in posted:
            problems.append(
                f"Banco de {who}: el movimiento {key} ({rule.label}, {format_cop(amount)}) "
                f"no tiene su operación {ledger_key} en el libro"
            )
        elif posted[ledger_key] != amount:
            problems.append(
                f"Banco de {who}: el movimiento {key} es de {format_cop(amount)} y la operación {ledger_key} "
                f"registra {format_cop(posted[ledger_key])}"
            )
    for key, amount in posted.items():
        bank_key = bank_key_of(key)
        if bank_key is None:
            problems.append(
                f"Cuenta bancaria de {who} en el libro: la operación {key} ({format_cop(amount)}) "
                "no tiene regla de conciliación"
            )
        elif bank_key not in movements:
            problems.append(
                f"Cuenta bancaria de {who} en el libro: la operación {key} ({format_cop(amount)}) "
                f"no tiene su movimiento {bank_key} en el banco"
            )
    return problems
