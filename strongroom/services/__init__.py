"""The use cases behind the SecretsManager face, one service per concern."""
