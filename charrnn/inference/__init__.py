"""What a trained model does: generate text, score text, run exported without charrnn."""
