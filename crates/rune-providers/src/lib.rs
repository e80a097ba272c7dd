//! AI model providers behind one async interface.
