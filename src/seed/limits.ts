/** The largest catalog and number of sellers a seed makes (a module of its own: the CLI checks them before loading the rest). */
export const SEED_PRODUCTS_MAX = 1_000_000;
export const SEED_SELLERS_MAX = 100_000;
