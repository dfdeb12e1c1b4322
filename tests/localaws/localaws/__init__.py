"""localaws: moto server plus this project's AWS Config, Lambda and fault-injection extensions."""
