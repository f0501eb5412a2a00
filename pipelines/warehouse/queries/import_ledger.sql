-- Which mapping last imported each table of the dataset (written by `herald import`).
SELECT mapping, table_name, imported_at
FROM imports
