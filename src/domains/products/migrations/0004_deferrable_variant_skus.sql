-- Two variants of a product may swap SKUs in one PATCH: the variant SKU constraints become
-- deferrable, and an edit that changes SKUs checks them once all its variants are written (SET
-- CONSTRAINTS … DEFERRED, then IMMEDIATE before it goes on). Everything else still checks them at
-- once (INITIALLY IMMEDIATE). PostgreSQL alters only foreign keys' deferrability, so each is
-- added again under its name.
ALTER TABLE product_variants DROP CONSTRAINT product_variants_product_sku_key;
ALTER TABLE product_variants ADD CONSTRAINT product_variants_product_sku_key UNIQUE (product_id, sku) DEFERRABLE INITIALLY IMMEDIATE;
ALTER TABLE product_variants DROP CONSTRAINT product_variants_seller_sku_key;
ALTER TABLE product_variants ADD CONSTRAINT product_variants_seller_sku_key UNIQUE (seller_id, sku) DEFERRABLE INITIALLY IMMEDIATE;
