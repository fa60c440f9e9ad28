"""Version 12 (issues 9 and 15): the indexes two hot queries lacked, and a table no code uses.

- `service_order (product_id, status, created_at)`: Órdenes de servicio searched by Estado read
  every order of the product and sorted them (10,000 orders: 5.8 ms on SQLite for one page).
- `batch (status)`: the validation job's look for new uploads, across every product, twice a
  second.
- `batch_parsed` is dropped: since the upload stopped parsing rows (issue 9), the validation job
  reads the stored file itself and nothing writes or reads this table.
"""


def up(database):
    database.execute_sql(
        "CREATE INDEX IF NOT EXISTS service_order_product_id_status_created_at "
        "ON service_order (product_id, status, created_at)"
    )
    database.execute_sql("CREATE INDEX IF NOT EXISTS batch_status ON batch (status)")
    database.execute_sql("DROP TABLE IF EXISTS batch_parsed")
