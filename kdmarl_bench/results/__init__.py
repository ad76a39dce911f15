"""Results: the cell store, the data model, the analysis, rendering and the gate, one stage per subpackage
(``model`` < ``analysis`` < ``store`` < ``gate`` < ``render``; ARCHITECTURE.md draws them)."""
