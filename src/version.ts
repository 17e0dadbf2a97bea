/** The version bazaar reports (`bazaar --version`, the OpenAPI document, the health route). */
export const VERSION = '0.1.0';
