"""Receipt rendering: documents (``appliance.domain.receipts``) to ESC/POS, text, PNG and PDF.

Public API::

    render_escpos(doc, profile) -> bytes          appliance.receipts.escpos
    render_png(doc, width_px=384) -> PIL.Image    appliance.receipts.raster
    export_pdf(docs, path) -> Path                appliance.receipts.raster
    document_to_text(doc, columns) -> str         appliance.domain.receipts
"""
