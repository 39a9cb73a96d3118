// Loaded by mocha (.mocharc.json "require") before any test, in the test
// process, so that the children it starts (controllers, agents) inherit it.
// Every SQLite store of the run refuses a call on the store from inside its
// own transaction (sqlite-gate.ts checkNesting) instead of hanging on it.
process.env.SECARC_STORE_CHECK_NESTING = "1";
