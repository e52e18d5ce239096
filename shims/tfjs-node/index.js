// Shim: re-export the pure-JS tfjs engine so that danfojs-node shares xai3d's engine and backend.
// xai3d never treats this module as a native backend (see lib/backend/select.ts).
module.exports = require('@tensorflow/tfjs');
