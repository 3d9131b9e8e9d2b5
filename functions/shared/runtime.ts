/**
 * Lambda-side helpers shared by every callback: the settings a function was deployed with.
 * Kept free of Pulumi imports: callbacks serialize what they reference.
 */

/** Environment variable holding the JSON settings every engine function reads in its callbackFactory. */
export const SETTINGS_VARIABLE = "IRF_SETTINGS";

/** Reads the settings a function was deployed with (inside a callbackFactory). */
export function settingsFromEnvironment<T>(): T {
    const raw = process.env[SETTINGS_VARIABLE];
    if (!raw) {
        throw new Error(`${SETTINGS_VARIABLE} is not set`);
    }
    return JSON.parse(raw) as T;
}
