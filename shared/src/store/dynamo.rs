//! TODO (helper "store"): DynamoDB implementation of the store traits.
