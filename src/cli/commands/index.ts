// Each command registers itself here with a lazy import of its module.
export {};
