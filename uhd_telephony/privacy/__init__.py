"""Data protection: retention per data class and tenant, erasure (Art. 17) and export (Art. 15) of one person."""
