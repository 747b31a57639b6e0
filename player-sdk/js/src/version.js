/** Name and version the SDK reports in every beacon's `sdk` field. Keep in step with package.json. */
export const SDK_NAME = 'qoe-js';
export const SDK_VERSION = '0.1.0';
