"""The network: embedding, recurrent layers (Keras' or charrnn.model.recurrent's on a CPU), logits."""
