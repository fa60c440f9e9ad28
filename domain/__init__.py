"""Plain-Python business rules of Conexión Empresas (no Flask, no database)."""
