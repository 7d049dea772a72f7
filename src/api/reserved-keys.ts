/**
 * Names that must never become, or be looked up as, object keys from user input: they name
 * Object.prototype's machinery (`obj.constructor` is a function, assigning `obj.__proto__`
 * changes the prototype). Schemas refuse them as metadata keys, query parameter names and sort
 * keys; handlers also look user keys up with `Object.hasOwn`, which covers the rest of
 * Object.prototype (`toString`, `valueOf`, …).
 */
export const reservedKeys = ['__proto__', 'constructor', 'prototype'] as const;

export const isReservedKey = (key: string): boolean => (reservedKeys as readonly string[]).includes(key);

/** JSON Schema for "not a reserved key" (in `propertyNames`, or on a string used as a key). */
export const notReserved = { not: { enum: [...reservedKeys] } } as const;
