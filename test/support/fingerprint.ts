/** The test stacks' LEADLINE_FINGERPRINT_KEY: what keyed lead ids are derived with (leadIdForKey) in tests. */
export const TEST_FINGERPRINT_KEY = 'test-fingerprint-key';
