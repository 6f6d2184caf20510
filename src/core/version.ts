/** The version wisp reports (console, datastore code version). Kept in step with package.json. @module */
export const WISP_VERSION = "0.1.0";
