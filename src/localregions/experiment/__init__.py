"""The experiment: MNIST, the paper's point sets, the networks, their training and the result tables."""
