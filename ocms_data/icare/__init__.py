"""iCARE bulk upload: template specs, eligibility, previews, workbooks and batches."""
