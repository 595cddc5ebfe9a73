// Kept in code (not read from package.json at run time) so bundles and headless runs agree.
export const VERSION = '0.1.0';
