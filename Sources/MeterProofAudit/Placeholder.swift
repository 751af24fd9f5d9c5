import MeterProof
