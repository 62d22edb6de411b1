"""Solution articles (Sofort-Support): per category, per tenant or shared, found by the database's full-text search,
suggested in the pop."""
