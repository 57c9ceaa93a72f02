"""Training logs other tools read: TensorBoard event files, written without TensorFlow."""
