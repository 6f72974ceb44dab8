"""Report figures, one module per report section; each function saves one PNG deterministically.

The non-interactive backend is chosen here, before any submodule imports pyplot.
"""

import matplotlib

matplotlib.use("Agg")
