"""Output: the shared text vocabulary, terminal tables (every command's), markdown, JUnit, report
sections and export formats."""
