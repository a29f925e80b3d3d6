"""What the SageMaker training container runs: the job contract, the candidates, the search, the metrics.

`python -m retail_training.entrypoint` is the training job; the local subprocess backend runs the
same module with the same container contract. It imports `retail_model` only.
"""
