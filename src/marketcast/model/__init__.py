"""Stage 3, the network: the Keras LSTM, its training loop, and the compute it runs on."""
